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
import { attr, parseXml, XmlSyntaxError, type XmlElement } from '../util/xml-reader.js';
import { serializeXml, type XmlNode } from '../util/xml-writer.js';
import {
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

/** Property name and text of each set field, in the reference writer's order. */
function properties(r: Rule): [string, string][] {
  const list: [string, string | undefined][] = [
    ['action', r.action],
    ['comment', r.comment],
    ['expire', r.expire === undefined ? undefined : String(r.expire)],
    ['dsthost', r.dsthost?.text],
    ['proto', r.proto],
    ['specialtarget', r.specialtarget],
    ['dstports', r.dstports && portsText(r.dstports)],
    ['icmptype', r.icmptype === undefined ? undefined : String(r.icmptype)],
  ];
  return list.filter((p): p is [string, string] => p[1] !== undefined);
}

/** The version-2 document for these rules. */
export function serializeFirewallXml(rules: readonly Rule[]): string {
  const rule = (r: Rule): XmlNode => ({
    name: 'rule',
    children: [{ name: 'properties', children: properties(r).map(([name, text]) => ({ name: 'property', attrs: [['name', name]], text })) }],
  });
  return serializeXml({ name: 'firewall', attrs: [['version', '2']], children: [{ name: 'rules', children: rules.map(rule) }] });
}

function loadV2(root: XmlElement): Rule[] {
  const rules = root.children.find((c) => c.name === 'rules');
  if (!rules) fail('no <rules> element');
  return (rules as XmlElement).children.map((el) => {
    const fields: RuleFields = {};
    for (const p of el.children.find((c) => c.name === 'properties')?.children ?? []) {
      const name = attr(p, 'name');
      if (p.name === 'property' && name !== undefined && isRuleField(name)) fields[name] = p.text;
    }
    try {
      return makeRule(fields);
    } catch (e) {
      throw new QubesValueError(`rule at line ${el.line}: ${(e as Error).message}`);
    }
  });
}

/** A v1 rule: an exception to the policy, so its action is the policy's opposite. */
function ruleFromV1(el: XmlElement, action: Action): Rule {
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

/**
 * R3.2 rules as R4 rules: DNS, then ICMP, each allowed or dropped as the
 * file says (falling back to the policy), then the file's rules with the
 * action opposite to the policy, then a final accept when the policy was
 * allow (the R4 policy is always drop). `yumProxy` has no R4 counterpart.
 */
function loadV1(root: XmlElement): Rule[] {
  const policy = attr(root, 'policy');
  if (policy !== 'allow' && policy !== 'deny') return fail(`invalid policy in version 1 firewall.xml: '${policy ?? ''}'`);
  const translate = (key: string): Action => ((attr(root, key) ?? policy) === 'allow' ? 'accept' : 'drop');
  const rules: Rule[] = [
    { action: translate('dns'), specialtarget: 'dns' },
    { action: translate('icmp'), proto: 'icmp' },
  ];
  const ruleAction: Action = policy === 'allow' ? 'drop' : 'accept';
  for (const el of root.children) {
    try {
      rules.push(ruleFromV1(el, ruleAction));
    } catch (e) {
      throw new QubesValueError(`rule at line ${el.line}: ${(e as Error).message}`);
    }
  }
  if (policy === 'allow') rules.push({ action: 'accept' });
  return rules;
}

/**
 * The rules of a firewall.xml document, version 1 or 2.
 * @throws QubesValueError naming what is wrong (malformed XML, unsupported
 *   version, an invalid rule and its line)
 */
export function parseFirewallXml(src: string): Rule[] {
  let root: XmlElement;
  try {
    root = parseXml(src);
  } catch (e) {
    if (e instanceof XmlSyntaxError) fail(e.message);
    throw e;
  }
  const version = attr(root, 'version') ?? '1';
  if (version === '1') return loadV1(root);
  if (version === '2') return loadV2(root);
  return fail(`Unsupported firewall.xml version: ${version}`);
}
