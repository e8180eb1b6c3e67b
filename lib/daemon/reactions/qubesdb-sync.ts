// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Running qubes follow their settings: the daemon's store reload announces
 * each change as an event (store-events.ts), whoever made it (a call to
 * this daemon, or a one-shot qvm-service, qvm-features, qvm-prefs); here
 * the events that concern a running qube are carried out on it
 * (ops/running-qube-settings.ts):
 *
 *   domain-feature-set:service.* / vm-config.*      its QubesDB entries
 *   domain-feature-delete:service.* / vm-config.*
 *   property-set:netvm, property-reset:netvm        its network
 *
 * The events of one reload come together; they are handled in order, one
 * reload after the other, in the background (a slow QubesDB does not hold
 * up the daemon's calls). A failure is logged and the next change handled.
 *
 * Not followed: a change of the default net qube (qubes-prefs
 * default_netvm) for the qubes that use it, which announces no event of
 * theirs.
 */
import type { QubesVM } from '../../vm/qubes-vm.js';
import { followFeatureChanges, followNetvmChange } from '../../ops/running-qube-settings.js';
import type { DaemonServices } from '../method.js';
import type { Log } from '../server.js';
import type { EventFields } from '../wire.js';
import type { Reaction } from './reaction.js';

const field = (fields: EventFields, name: string) => fields.find(([k]) => k === name)?.[1];

type Change = { kind: 'features'; vm: string; features: Map<string, string | undefined> } | { kind: 'netvm'; vm: string; old: string };

export function startQubesDbSync(services: DaemonServices, log: Log): Reaction {
  let batch: Change[] = [];
  let queue: Promise<void> = Promise.resolve();
  let stopped = false;
  let scheduled = false;
  const warn = (m: string) => log.warning(m);

  const featuresOf = (vm: string) => {
    const last = batch.at(-1);
    if (last?.kind === 'features' && last.vm === vm) return last.features;
    const features = new Map<string, string | undefined>();
    batch.push({ kind: 'features', vm, features });
    return features;
  };

  const handle = async (changes: Change[]) => {
    for (const c of changes) {
      if (stopped) return;
      try {
        const app = services.current();
        const vm: QubesVM | undefined = app.domains.get(c.vm);
        if (!vm) continue;
        if (c.kind === 'features') await followFeatureChanges(app, vm, c.features, services.env, warn);
        else await followNetvmChange(app, vm, c.old ? (app.domains.get(c.old) ?? null) : null, services.env, warn);
      } catch (e) {
        if (stopped) return;
        log.error(`${c.vm}: cannot follow its changed ${c.kind === 'features' ? 'features' : 'net qube'}: ${(e as Error).message}`);
      }
    }
  };

  const unsubscribe = services.subscribe((subject, event, fields) => {
    if (subject === '') return;
    if (event.startsWith('domain-feature-set:')) featuresOf(subject).set(field(fields, 'feature') ?? '', field(fields, 'value') ?? '');
    else if (event.startsWith('domain-feature-delete:')) featuresOf(subject).set(field(fields, 'feature') ?? '', undefined);
    else if (event === 'property-set:netvm' || event === 'property-reset:netvm') batch.push({ kind: 'netvm', vm: subject, old: field(fields, 'oldvalue') ?? '' });
    else return;
    // the events of one reload are announced in one go: take them together once it is over
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  });

  function flush(): void {
    scheduled = false;
    const changes = batch;
    batch = [];
    queue = queue.then(() => handle(changes));
  }

  return {
    stop: async () => {
      stopped = true;
      unsubscribe();
      // the change being carried out finishes; the others are dropped
      await queue;
    },
  };
}
