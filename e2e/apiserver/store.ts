/**
 * VersionedStore: the etcd of the test server. One global revision counter stamps every write (an
 * object's metadata.resourceVersion is the revision of its last write, a list's is the current
 * revision); every write is also recorded in a bounded history so watches can replay from a revision and
 * lists can be served at an exact past revision (continue tokens). When the history overflows, or on
 * compact(), the oldest retained revision moves forward and older revisions are "expired" (410).
 *
 * It knows nothing of Kubernetes semantics beyond the resourceVersion stamp: the registry decides what to
 * write; the store keeps it, orders it and tells listeners, synchronously and in revision order.
 */
import { clone, type KubeObject, type WatchEventType } from './types';

export interface StoreEvent {
  revision: number;
  type: WatchEventType;
  /** Resource plural, e.g. "pods". */
  resource: string;
  /** "namespace/name", or "name" for cluster-scoped objects. */
  key: string;
  /** The object after the write; for DELETED, the last state stamped with the deletion revision. */
  object: KubeObject;
  /** The object before the write (MODIFIED, DELETED). */
  prevObject?: KubeObject;
}

export type StoreListener = (event: StoreEvent) => void;

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export class VersionedStore {
  private revision: number;
  /** Every revision <= compactedRevision is gone from history; watching from below it is expired. */
  private compactedRevision: number;
  private history: StoreEvent[] = [];
  private readonly data = new Map<string, Map<string, KubeObject>>();
  private readonly listeners = new Set<StoreListener>();

  constructor(
    private readonly historyLimit: number,
    startRevision = 0,
  ) {
    this.revision = startRevision;
    this.compactedRevision = startRevision;
  }

  get currentRevision(): number {
    return this.revision;
  }

  get oldestWatchableRevision(): number {
    return this.compactedRevision;
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(resource: string, key: string): KubeObject | undefined {
    const obj = this.data.get(resource)?.get(key);
    return obj && clone(obj);
  }

  /** Current objects of a resource in key order (as etcd's range reads return them). */
  list(resource: string): KubeObject[] {
    const objects = this.data.get(resource);
    if (!objects) return [];
    return [...objects.keys()].sort().map((k) => clone(objects.get(k) as KubeObject));
  }

  /** Writes an object (create or update) at a new revision, returning the stored copy. */
  put(resource: string, key: string, object: KubeObject): KubeObject {
    const prev = this.data.get(resource)?.get(key);
    const revision = ++this.revision;
    const stored = clone(object);
    stored.metadata.resourceVersion = String(revision);
    let objects = this.data.get(resource);
    if (!objects) this.data.set(resource, (objects = new Map()));
    objects.set(key, stored);
    this.record({
      revision,
      type: prev ? 'MODIFIED' : 'ADDED',
      resource,
      key,
      object: stored,
      prevObject: prev,
    });
    return clone(stored);
  }

  /** Removes an object at a new revision; returns its last state stamped with that revision. */
  remove(resource: string, key: string): KubeObject | undefined {
    const prev = this.data.get(resource)?.get(key);
    if (!prev) return undefined;
    const revision = ++this.revision;
    this.data.get(resource)?.delete(key);
    const tombstone = clone(prev);
    tombstone.metadata.resourceVersion = String(revision);
    this.record({ revision, type: 'DELETED', resource, key, object: tombstone, prevObject: prev });
    return clone(tombstone);
  }

  /** Events after `revision` (exclusive), or 'expired' when some of them are no longer retained. */
  eventsSince(revision: number): StoreEvent[] | 'expired' {
    if (revision < this.compactedRevision) return 'expired';
    return this.history.filter((e) => e.revision > revision);
  }

  /** The objects of a resource as they were at `revision`, by undoing later history; 'expired' if compacted. */
  listAt(resource: string, revision: number): KubeObject[] | 'expired' {
    if (revision < this.compactedRevision) return 'expired';
    const state = new Map<string, KubeObject>();
    for (const obj of this.data.get(resource)?.values() ?? []) state.set(keyOf(obj), obj);
    for (let i = this.history.length - 1; i >= 0 && this.history[i].revision > revision; i--) {
      const e = this.history[i];
      if (e.resource !== resource) continue;
      if (e.type === 'ADDED') state.delete(e.key);
      else if (e.prevObject) state.set(e.key, e.prevObject);
    }
    return [...state.keys()].sort().map((k) => clone(state.get(k) as KubeObject));
  }

  /**
   * Forgets all history. With `bump`, also advances the revision once (an empty write, like an etcd
   * compaction racing other writers) so that every revision a client could hold becomes expired.
   */
  compact(bump: boolean): void {
    if (bump) this.revision++;
    this.compactedRevision = this.revision;
    this.history = [];
  }

  /**
   * Loads objects saved by a previous server exactly as they were (resourceVersions, uids and all)
   * and continues counting from `revision` (at least the newest object's): what an API server
   * restarted on the same etcd sees. There is no history before it, so a watch resumed from an
   * older resourceVersion gets 410 Expired and relists, as from a freshly started watch cache.
   * Only into an empty store. Each object is placed before the next is taken from `objects`, so a
   * generator may look at what is already placed (the CRDs, to name their custom resources).
   */
  restore(objects: Iterable<{ resource: string; object: KubeObject }>, revision: number): void {
    if (this.revision !== 0 || this.data.size > 0) throw new Error('restore needs an empty store');
    let newest = revision;
    for (const { resource, object } of objects) {
      let byKey = this.data.get(resource);
      if (!byKey) this.data.set(resource, (byKey = new Map()));
      byKey.set(keyOf(object), clone(object));
      newest = Math.max(newest, Number(object.metadata.resourceVersion ?? 0));
    }
    this.revision = newest;
    this.compactedRevision = newest;
    this.history = [];
  }

  /** Drops every object and all history; revisions keep counting up so old ones read as expired. */
  reset(): void {
    this.data.clear();
    this.compact(true);
  }

  private record(event: StoreEvent): void {
    this.history.push(event);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedRevision = dropped[dropped.length - 1].revision;
    }
    for (const listener of [...this.listeners]) listener(event);
  }
}

function keyOf(obj: KubeObject): string {
  return objectKey(obj.metadata.namespace, obj.metadata.name ?? '');
}
