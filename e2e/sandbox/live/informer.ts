/**
 * An informer for the cluster simulator: list, then watch from the list's resourceVersion,
 * relisting on 410 Expired or a broken stream (with a short backoff), keeping a cache by
 * "namespace/name" and telling a handler what changed. The handler runs synchronously in event
 * order; on a relist, objects that vanished arrive as deletions.
 */
import type { Json, KubeRest } from './kube-rest';

export type InformerHandler = (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Json, previous?: Json) => void;

export function keyOf(o: Json): string {
  const m = (o.metadata ?? {}) as { name?: string; namespace?: string };
  return m.namespace ? `${m.namespace}/${m.name ?? ''}` : (m.name ?? '');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Informer {
  readonly cache = new Map<string, Json>();
  private stopped = false;
  private current: { stop(): void } | undefined;
  private syncedOnce: Promise<void>;
  private markSynced!: () => void;

  constructor(
    private readonly api: KubeRest,
    private readonly path: string,
    private readonly handler: InformerHandler,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    this.syncedOnce = new Promise((resolve) => (this.markSynced = resolve));
  }

  /** Resolves after the first list has been handed to the handler. */
  synced(): Promise<void> {
    return this.syncedOnce;
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.current?.stop();
  }

  private async run(): Promise<void> {
    let backoff = 50;
    while (!this.stopped) {
      try {
        const { items, resourceVersion } = await this.api.list(this.path);
        const seen = new Set<string>();
        for (const item of items) {
          const key = keyOf(item);
          seen.add(key);
          const prev = this.cache.get(key);
          this.cache.set(key, item);
          this.handler(prev ? 'MODIFIED' : 'ADDED', item, prev);
        }
        for (const [key, prev] of [...this.cache]) {
          if (seen.has(key)) continue;
          this.cache.delete(key);
          this.handler('DELETED', prev, prev);
        }
        this.markSynced();
        backoff = 50;
        let rv = resourceVersion;
        let expired = false;
        const watch = this.api.watch(this.path, rv, (type, object) => {
          if (type === 'BOOKMARK') {
            rv = String((object.metadata as Json | undefined)?.resourceVersion ?? rv);
            return;
          }
          if (type === 'ERROR') {
            expired = true;
            watch.stop();
            return;
          }
          const key = keyOf(object);
          const prev = this.cache.get(key);
          if (type === 'DELETED') this.cache.delete(key);
          else this.cache.set(key, object);
          rv = String((object.metadata as Json | undefined)?.resourceVersion ?? rv);
          this.handler(type as 'ADDED' | 'MODIFIED' | 'DELETED', object, prev);
        });
        this.current = watch;
        await watch.done;
        if (!expired && !this.stopped) this.log(`watch ${this.path} ended; relisting`);
      } catch (e) {
        if (this.stopped) return;
        this.log(`watch ${this.path} failed (${(e as Error).message}); relisting in ${backoff} ms`);
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 2000);
      }
    }
  }
}
