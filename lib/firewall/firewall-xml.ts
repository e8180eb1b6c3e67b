// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * firewall.xml: reading version 2 (R4) and version 1 (R3.2, converted to
 * R4 rules on load), writing version 2 as the reference writes it (lxml
 * pretty print: no declaration, 2-space indent, trailing newline).
 *
 *   <firewall version="2">
 *     <rules>
 *       <rule>
 *         <properties>
 *           <property name="action">accept</property>
 *           ...
 *
 * Properties are written in the reference's order (action, comment,
 * expire, dsthost, proto, specialtarget, dstports, icmptype), only those
 * that are set; unknown property names are ignored on load.
 *
 * Reference: qubes-core-admin: qubes/firewall.py (Firewall.load, load_v1,
 * load_v2, save; Rule.from_xml_v1); shared/spec/firewall-and-devices.md A4.
 */
import { QubesValueError } from '../errors.js';
import { attr, lineAt, nameAttr, parseAttrs, scanXml, XmlSyntaxError, type XmlHandler } from '../util/xml-reader.js';
import { element } from '../util/xml-writer.js';
import {
  ACCEPT_ALL,
  checkRule,
  isRuleField,
  makeRule,
  parseDstHost,
  parseDstPorts,
  parseExpire,
  parseProto,
  portsText,
  type Action,
  type Rule,
  type RuleFields,
} from './rule.js';

const fail = (reason: string): never => {
  throw new QubesValueError(reason);
};

const NOT_SPACE_RE = /[^ \t\r\n]/;

/** One `<property>` line, indented as inside `<rules><rule><properties>`. */
const property = (name: string, text: string): string => element('        ', 'property', ` name="${name}"`, text);

/** The `<property>` lines of each set field, in the reference writer's order. */
function propertiesXml(r: Rule): string {
  let out = property('action', r.action);
  if (r.comment !== undefined) out += property('comment', r.comment);
  if (r.expire !== undefined) out += property('expire', String(r.expire));
  if (r.dsthost) out += property('dsthost', r.dsthost.text);
  if (r.proto) out += property('proto', r.proto);
  if (r.specialtarget) out += property('specialtarget', r.specialtarget);
  if (r.dstports) out += property('dstports', portsText(r.dstports));
  if (r.icmptype !== undefined) out += property('icmptype', String(r.icmptype));
  return out;
}

/**
 * The version-2 document for these rules, as the reference's pretty printer
 * lays it out. Built by appending to one string (no tree of nodes, no list
 * of pieces): 100,000 rules are written as fast as they are read.
 */
export function serializeFirewallXml(rules: readonly Rule[]): string {
  if (rules.length === 0) return '<firewall version="2">\n  <rules/>\n</firewall>\n';
  let out = '<firewall version="2">\n  <rules>\n';
  for (const r of rules) out += `    <rule>\n      <properties>\n${propertiesXml(r)}      </properties>\n    </rule>\n`;
  return `${out}  </rules>\n</firewall>\n`;
}

const NO_ATTRS: [string, string][] = [];

/**
 * Reads the rules of either version from scanner events as they come,
 * without a tree: the root's attributes (version, and the v1 policy), then
 * each v1 rule (a child of the root) or v2 rule (a child of the first
 * `<rules>`, with the `<property>` texts of its first `<properties>`).
 * Every attribute is still parsed, so a malformed one anywhere is refused.
 *
 * Errors keep the order of a whole-document check: malformed XML first
 * (the scanner throws), then the version or v1 policy, then the first
 * invalid rule, named by its line (computed only then).
 *
 * Depths: 1 root, 2 `<rules>` (v2) or a rule (v1), 3 `<rule>`,
 * 4 `<properties>`, 5 `<property>`.
 */
class FirewallXmlReader implements XmlHandler {
  version = '1';
  /** v1 only: the R3.2 policy and what each rule does (the policy's opposite). */
  v1: V1Policy | undefined;
  readonly rules: Rule[] = [];
  sawRules = false;
  firstError: { pos: number; message: string } | undefined;
  private depth = 0;
  /** Inside the first `<rules>` of a v2 document. */
  private inRules = false;
  private rulePos = 0;
  private fields: RuleFields = {};
  /** Inside the first `<properties>` of the current rule. */
  private inProperties = false;
  private sawProperties = false;
  /** The `<property>` being read: its name, and the character data directly inside it (as TreeBuilder keeps it). */
  private inProperty = false;
  private propName: string | undefined;
  private propText = '';
  private propHasChild = false;

  open(name: string, rawAttrs: string, pos: number): void {
    const depth = ++this.depth;
    if (depth === 5 && this.inProperties && name === 'property') {
      this.inProperty = true;
      this.propName = nameAttr(rawAttrs);
      this.propText = '';
      this.propHasChild = false;
      return;
    }
    if (depth === 6 && this.inProperty && !this.propHasChild) {
      // Whitespace before a first child element was indentation, not content.
      if (!NOT_SPACE_RE.test(this.propText)) this.propText = '';
      this.propHasChild = true;
    }
    const attrs = rawAttrs === '' ? NO_ATTRS : parseAttrs(rawAttrs);
    if (depth === 1) {
      this.version = attr({ attrs }, 'version') ?? '1';
      if (this.version === '1') this.v1 = v1Policy(attrs);
    } else if (depth === 2) {
      const v1 = this.v1;
      if (v1?.policy) this.build(pos, () => ruleFromV1(attrs, v1.ruleAction));
      this.inRules = this.version === '2' && name === 'rules' && !this.sawRules;
      if (this.inRules) this.sawRules = true;
    } else if (depth === 3 && this.inRules) {
      this.rulePos = pos;
      this.fields = {};
      this.sawProperties = false;
    } else if (depth === 4 && this.inRules && name === 'properties' && !this.sawProperties) {
      this.sawProperties = true;
      this.inProperties = true;
    }
  }

  text(data: string): void {
    if (this.inProperty && this.depth === 5 && (!this.propHasChild || NOT_SPACE_RE.test(data))) this.propText += data;
  }

  close(): void {
    const depth = this.depth--;
    if (depth === 5 && this.inProperty) {
      const name = this.propName;
      if (name !== undefined && isRuleField(name)) this.fields[name] = this.propText;
      this.inProperty = false;
    } else if (depth === 4) {
      this.inProperties = false;
    } else if (depth === 3 && this.inRules) {
      const fields = this.fields;
      this.build(this.rulePos, () => makeRule(fields));
    } else if (depth === 2) {
      this.inRules = false;
    }
  }

  /** Add a rule; after the first invalid one, only keep checking the XML. */
  private build(pos: number, make: () => Rule): void {
    if (this.firstError) return;
    try {
      this.rules.push(make());
    } catch (e) {
      if (!(e instanceof QubesValueError)) throw e;
      this.firstError = { pos, message: e.message };
    }
  }
}

/** A v1 rule: an exception to the policy, so its action is the policy's opposite. */
function ruleFromV1(attrs: [string, string][], action: Action): Rule {
  const el = { attrs };
  const netmaskText = attr(el, 'netmask');
  let netmask = 32;
  if (netmaskText !== undefined) {
    if (!/^\s*[+-]?[0-9]+\s*$/.test(netmaskText)) fail(`bad netmask: '${netmaskText}'`);
    netmask = Number(netmaskText);
  }
  const address = attr(el, 'address');
  // quirk(reference): core turns netmask 0 into /32 (`prefixlen or 32`), so
  // "any host, port 22" became "0.0.0.0 only", and the reference's backup
  // restore drops the destination, so it became any host of both families.
  // Here it stays what R3.2 (IPv4 only) meant: `0.0.0.0/0`, every IPv4 host,
  // which the reference core reads back the same way.
  const dsthost = address ? parseDstHost(address, netmask) : undefined;
  const port = attr(el, 'port');
  const toport = attr(el, 'toport');
  const ports = port ? (toport ? `${port}-${toport}` : port) : undefined;
  let proto = attr(el, 'proto');
  if (ports && !proto) proto = 'tcp'; // R3.2: a port without a protocol meant TCP
  if (proto === 'any') proto = undefined;
  const expire = attr(el, 'expire');
  return checkRule({
    action,
    dsthost,
    proto: proto ? parseProto(proto) : undefined,
    dstports: ports ? parseDstPorts(ports) : undefined,
    expire: expire ? parseExpire(expire) : undefined,
  });
}

/** The root attributes of a v1 document, as its rules need them. */
interface V1Policy {
  /** The `policy` attribute as written. */
  text: string | undefined;
  policy: 'allow' | 'deny' | undefined;
  /** What DNS (`dns`) and ICMP (`icmp`) do: as the file says, else as the policy. */
  translate: (key: string) => Action;
  /** Each rule is an exception to the policy, so it does the opposite. */
  ruleAction: Action;
}

function v1Policy(rootAttrs: [string, string][]): V1Policy {
  const root = { attrs: rootAttrs };
  const text = attr(root, 'policy');
  const policy = text === 'allow' || text === 'deny' ? text : undefined;
  return {
    text,
    policy,
    translate: (key) => ((attr(root, key) ?? policy) === 'allow' ? 'accept' : 'drop'),
    ruleAction: policy === 'allow' ? 'drop' : 'accept',
  };
}

/**
 * The rules of a firewall.xml document, version 1 or 2. R3.2 rules become
 * R4 rules: DNS, then ICMP, each allowed or dropped as the file says
 * (falling back to the policy), then the file's rules with the action
 * opposite to the policy, then a final accept when the policy was allow
 * (the R4 policy is always drop). `yumProxy` has no R4 counterpart.
 * @throws QubesValueError naming what is wrong (malformed XML, unsupported
 *   version, an invalid rule and its line)
 */
export function parseFirewallXml(src: string): Rule[] {
  const doc = new FirewallXmlReader();
  try {
    scanXml(src, doc);
  } catch (e) {
    if (e instanceof XmlSyntaxError) fail(e.message);
    throw e;
  }
  const v1 = doc.v1;
  if (v1 && !v1.policy) fail(`invalid policy in version 1 firewall.xml: '${v1.text ?? ''}'`);
  if (doc.version === '2' && !doc.sawRules) fail('no <rules> element');
  if (doc.version !== '1' && doc.version !== '2') fail(`Unsupported firewall.xml version: ${doc.version}`);
  if (doc.firstError) throw new QubesValueError(`rule at line ${lineAt(src, doc.firstError.pos)}: ${doc.firstError.message}`);
  if (!v1) return doc.rules;
  return [
    { action: v1.translate('dns'), specialtarget: 'dns' },
    { action: v1.translate('icmp'), proto: 'icmp' },
    ...doc.rules,
    ...(v1.policy === 'allow' ? [ACCEPT_ALL] : []),
  ];
}
