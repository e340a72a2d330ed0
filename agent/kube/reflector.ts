/**
 * Reflector: keeps a cache of one resource (slim projections only) in step with the API server
 * and tells a handler what changed.
 *
 * Why not client-node's informer: it does not restart itself after an error, and it keeps whole
 * objects. This is the client-go reflector pattern, small and explicit:
 *
 *     ┌────────┐ listed all pages ┌──────────┐  watch ended: closed / timeout ──▶ resume at once
 *     │listing │ ───────────────▶ │ watching │  watch failed (connection) ──▶ backoff ─▶ resume
 *     └────────┘ ◀─────────────── └──────────┘
 *        ▲  410 Gone (watch expired), 404 (resource gone): relist   (from the last resourceVersion)
 *        └── list failed: backoff, list again
 *
 * An optional resource (a CRD's, which a cluster may not have) answers its list with 404 while
 * it is not served: the reflector then counts as synced with nothing in it (reporting any
 * cached objects deleted), says so (`served()`, the handler's `served`, one log line per
 * change), and lists again after a backoff (1 s doubling to 30 s by default) until it is
 * served: a CRD installed later is picked up without a restart.
 *
 * Promises:
 *   - The cache holds, per object, only its projection and resourceVersion: memory per object
 *     does not depend on what the object carries (annotations, managedFields, specs).
 *   - A relist never drops enforcement: objects listed are upserted as they come, and only when
 *     the list is complete are cached objects absent from it reported deleted.
 *   - `synced` is reported once, after the first complete list.
 *   - Handlers see only real changes: an update whose projection equals the cached one is
 *     absorbed (it still moves the resourceVersion).
 *   - Bookmarks (allowWatchBookmarks) move the resourceVersion, so a resumed watch starts late
 *     enough not to expire.
 */
import type { Clock } from '../daemon/clock';
import { sleep } from '../daemon/clock';
import { Backoff, type BackoffOptions } from '../daemon/backoff';
import type { Logger } from '../daemon/logger';
import { errorFields } from '../daemon/logger';
import type { ResourceClient, ResourceName } from './client';
import { httpStatusOf } from './client';
import { plainEqual } from './equal';

export type ReflectorState = 'idle' | 'listing' | 'watching' | 'backoff' | 'absent' | 'stopped' | 'failed';
export type RestartReason = 'expired' | 'gone' | 'closed' | 'timeout' | 'error';
export type EventType = 'added' | 'modified' | 'deleted' | 'bookmark' | 'listed' | 'relist_deleted';

export interface ReflectorHandler<T> {
  upsert(obj: T, receivedAt: number): void;
  delete(key: string, last: T, receivedAt: number): void;
  /** The first complete list has been delivered (or, for an optional resource, found not served). */
  synced(): void;
  /**
   * Optional resources: whether the API server serves it, told after the first list and on every
   * change (true once listed, false once a list answered 404).
   */
  served?(served: boolean): void;
}

/** Counters the reflector reports to (the agent's metrics). */
export interface ReflectorObserver {
  event(resource: ResourceName, type: EventType): void;
  restart(resource: ResourceName, reason: RestartReason): void;
  size(resource: ResourceName, objects: number): void;
}

export interface ReflectorOptions<T> {
  readonly client: ResourceClient;
  /** Raw object (decoded JSON or client-node model) to its slim projection. */
  readonly project: (raw: unknown) => T;
  readonly keyOf: (obj: T) => string;
  readonly handler: ReflectorHandler<T>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly observer?: ReflectorObserver;
  /** Reconnect backoff; default 500 ms doubling to 30 s, ±50 % jitter. */
  readonly backoff?: BackoffOptions;
  /** Items per list page; default 500 (as client-go). */
  readonly pageSize?: number;
  /** Server-side watch timeout, s; default a random value in [300, 600). */
  readonly watchTimeoutSeconds?: () => number;
  /** A watch that ends sooner than this without delivering anything backs off; default 1 s. */
  readonly minHealthyWatchMs?: number;
  /** The resource may not be served (a CRD's): 404 on list means "absent", not an error. */
  readonly optional?: boolean;
  /** How often to look again for an absent optional resource; default 1 s doubling to 30 s. */
  readonly absentPoll?: BackoffOptions;
}

interface Entry<T> {
  rv: string;
  obj: T;
}

interface WatchOutcome {
  reason: RestartReason;
  err: unknown;
  delivered: boolean;
  durationMs: number;
}

export class Reflector<T> {
  readonly resource: ResourceName;
  private readonly cache = new Map<string, Entry<T>>();
  private resourceVersion = '';
  private synced = false;
  private current: ReflectorState = 'idle';
  private readonly stopController = new AbortController();
  private loopDone: Promise<void> | undefined;
  private activeWatch: AbortController | undefined;
  private readonly backoff: Backoff;
  private restarts = 0;
  private lastError: string | undefined;
  /** False while an optional resource is not served (its list answered 404). */
  private isServed = true;
  /** What the handler was last told about availability (optional resources; undefined: nothing yet). */
  private reported: boolean | undefined;
  private readonly absentBackoff: Backoff;

  constructor(private readonly opts: ReflectorOptions<T>) {
    this.resource = opts.client.resource;
    this.backoff = new Backoff(opts.backoff ?? { initialMs: 500, maxMs: 30_000, jitter: 0.5 });
    this.absentBackoff = new Backoff(opts.absentPoll ?? { initialMs: 1000, maxMs: 30_000, jitter: 0.2 });
  }

  /** False while an optional resource is not served by the API server (its CRD is absent). */
  served(): boolean {
    return this.isServed;
  }

  start(): void {
    if (this.loopDone) return;
    this.loopDone = this.loop().catch((err) => {
      this.current = 'failed';
      this.opts.log.error('reflector stopped on an unexpected error', {
        resource: this.resource,
        ...errorFields(err),
      });
    });
  }

  /** Ends the watch and the loop; the cache stays readable. */
  async stop(): Promise<void> {
    this.stopController.abort();
    await this.loopDone;
    if (this.current !== 'failed') this.current = 'stopped';
  }

  hasSynced(): boolean {
    return this.synced;
  }

  state(): ReflectorState {
    return this.current;
  }

  /** The resourceVersion the next watch resumes from ('' = must list). */
  lastResourceVersion(): string {
    return this.resourceVersion;
  }

  get(key: string): T | undefined {
    return this.cache.get(key)?.obj;
  }

  keys(): IterableIterator<string> {
    return this.cache.keys();
  }

  get size(): number {
    return this.cache.size;
  }

  status(): {
    resource: ResourceName;
    state: ReflectorState;
    synced: boolean;
    objects: number;
    resourceVersion: string;
    restarts: number;
    lastError: string | null;
    /** Optional resources only: whether the API server serves it now. */
    served?: boolean;
  } {
    return {
      resource: this.resource,
      state: this.current,
      synced: this.synced,
      objects: this.cache.size,
      resourceVersion: this.resourceVersion,
      restarts: this.restarts,
      lastError: this.lastError ?? null,
      ...(this.opts.optional ? { served: this.isServed } : {}),
    };
  }

  private get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  private async loop(): Promise<void> {
    const log = this.opts.log;
    let mustList = true;
    let briefEnds = 0;
    while (!this.stopped) {
      if (mustList) {
        this.current = 'listing';
        try {
          await this.listAndReconcile();
          mustList = false;
        } catch (err) {
          if (this.stopped) break;
          if (this.opts.optional && httpStatusOf(err) === 404) {
            this.becomeAbsent();
            this.current = 'absent';
            await sleep(this.opts.clock, this.absentBackoff.next(), this.stopController.signal);
            continue;
          }
          this.lastError = errorFields(err).error;
          this.noteRestart('error');
          const delay = this.backoff.next();
          log.warn('list failed; retrying', {
            resource: this.resource,
            ...errorFields(err),
            retryInMs: delay,
          });
          await this.pause(delay);
          continue;
        }
      }
      this.current = 'watching';
      const outcome = await this.watchOnce();
      if (this.stopped) break;
      this.noteRestart(outcome.reason);
      if (outcome.delivered) {
        this.backoff.reset();
        this.lastError = undefined;
      }
      const fields = {
        resource: this.resource,
        reason: outcome.reason,
        resourceVersion: this.resourceVersion,
        watchedMs: Math.round(outcome.durationMs),
        ...(outcome.err ? errorFields(outcome.err) : {}),
      };
      // One watch ending at once is normal (a resume answered 410); several in a row are a loop.
      const brief = !outcome.delivered && outcome.durationMs < (this.opts.minHealthyWatchMs ?? 1000);
      briefEnds = brief ? briefEnds + 1 : 0;
      const throttle = briefEnds > 1;
      switch (outcome.reason) {
        case 'expired':
          log.info('watch expired (410 Gone); relisting', fields);
          mustList = true;
          if (throttle) await this.pause(this.backoff.next());
          break;
        case 'gone':
          // 404: the resource is not served any more (its CRD was deleted); the list says how things are.
          log.info('watch answered 404 (resource not served); relisting', fields);
          mustList = true;
          if (throttle) await this.pause(this.backoff.next());
          break;
        case 'closed':
        case 'timeout':
          log.debug('watch ended; resuming', fields);
          if (throttle) await this.pause(this.backoff.next());
          break;
        case 'error': {
          this.lastError = outcome.err ? errorFields(outcome.err).error : 'watch failed';
          const delay = this.backoff.next();
          log.warn('watch failed; reconnecting', { ...fields, retryInMs: delay });
          await this.pause(delay);
          break;
        }
      }
    }
    this.current = 'stopped';
  }

  private noteRestart(reason: RestartReason): void {
    this.restarts++;
    this.opts.observer?.restart(this.resource, reason);
  }

  private async pause(ms: number): Promise<void> {
    this.current = 'backoff';
    await sleep(this.opts.clock, ms, this.stopController.signal);
  }

  /** Lists every page, upserting as it goes, then reports cached objects absent from the list as deleted. */
  private async listAndReconcile(): Promise<void> {
    const pageSize = this.opts.pageSize ?? 500;
    const seen = new Set<string>();
    let continueToken: string | undefined;
    let resourceVersion = '';
    let restartedPaging = false;
    do {
      let page;
      try {
        page = await this.opts.client.list(pageSize, continueToken);
      } catch (err) {
        // A continue token outlived the server's compaction window: start the list over once.
        if (httpStatusOf(err) === 410 && continueToken !== undefined && !restartedPaging) {
          restartedPaging = true;
          continueToken = undefined;
          seen.clear();
          continue;
        }
        throw err;
      }
      if (this.stopped) return;
      const receivedAt = this.opts.clock.now();
      for (const raw of page.items) seen.add(this.upsert(raw, 'listed', receivedAt));
      continueToken = page.continueToken;
      resourceVersion = page.resourceVersion;
    } while (continueToken !== undefined);
    const receivedAt = this.opts.clock.now();
    for (const [key, entry] of this.cache) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      this.opts.observer?.event(this.resource, 'relist_deleted');
      this.opts.handler.delete(key, entry.obj, receivedAt);
    }
    this.opts.observer?.size(this.resource, this.cache.size);
    this.resourceVersion = resourceVersion;
    this.backoff.reset();
    this.lastError = undefined;
    if (this.opts.optional && this.reported !== true) {
      this.isServed = true;
      this.reported = true;
      this.absentBackoff.reset();
      this.opts.log.debug('resource is served; watching it', {
        resource: this.resource,
        objects: this.cache.size,
      });
      this.opts.handler.served?.(true);
    }
    if (!this.synced) {
      this.synced = true;
      this.opts.log.info('cache synced', {
        resource: this.resource,
        objects: this.cache.size,
        resourceVersion,
      });
      this.opts.handler.synced();
    }
  }

  /**
   * An optional resource answered 404: not served. What was cached is reported deleted (the CRD
   * and its objects are gone); the first time, this also counts as the initial sync.
   */
  private becomeAbsent(): void {
    const receivedAt = this.opts.clock.now();
    for (const [key, entry] of [...this.cache]) {
      this.cache.delete(key);
      this.opts.observer?.event(this.resource, 'relist_deleted');
      this.opts.handler.delete(key, entry.obj, receivedAt);
    }
    this.opts.observer?.size(this.resource, 0);
    this.resourceVersion = '';
    this.lastError = undefined;
    this.isServed = false;
    if (this.reported !== false) {
      this.reported = false;
      this.opts.log.debug(
        'resource not served by the API server (its CRD is not installed); looking again later',
        {
          resource: this.resource,
        },
      );
      this.opts.handler.served?.(false);
    }
    if (!this.synced) {
      this.synced = true;
      this.opts.handler.synced();
    }
  }

  /** Runs one watch until it ends; never rejects. */
  private watchOnce(): Promise<WatchOutcome> {
    const started = this.opts.clock.now();
    let delivered = false;
    let expired = false;
    let errorEvent: unknown;
    return new Promise<WatchOutcome>((resolve) => {
      let finished = false;
      const finish = (err: unknown) => {
        if (finished) return;
        finished = true;
        this.stopController.signal.removeEventListener('abort', onStop);
        this.activeWatch?.abort();
        this.activeWatch = undefined;
        const status = httpStatusOf(err);
        let reason: RestartReason;
        if (expired || status === 410) reason = 'expired';
        else if (status === 404) reason = 'gone';
        else if (errorEvent !== undefined) reason = 'error';
        else if (err === null || err === undefined) reason = 'closed';
        else if (err instanceof Error && err.name === 'TimeoutError') reason = 'timeout';
        else reason = 'error';
        resolve({ reason, err: err ?? errorEvent, delivered, durationMs: this.opts.clock.now() - started });
      };
      const onStop = () => finish(null);
      this.stopController.signal.addEventListener('abort', onStop, { once: true });
      const onEvent = (type: string, obj: unknown) => {
        if (finished) return;
        try {
          const receivedAt = this.opts.clock.now();
          switch (type) {
            case 'ADDED':
              this.upsert(obj, 'added', receivedAt);
              break;
            case 'MODIFIED':
              this.upsert(obj, 'modified', receivedAt);
              break;
            case 'DELETED':
              this.remove(obj, receivedAt);
              break;
            case 'BOOKMARK':
              this.opts.observer?.event(this.resource, 'bookmark');
              break;
            case 'ERROR':
              // The server ends the stream after an ERROR event; do not wait for it.
              if (httpStatusOf(obj) === 410) expired = true;
              else errorEvent = statusError(obj);
              finish(null);
              return;
            default:
              return;
          }
          delivered = true;
          const rv = resourceVersionOf(obj);
          if (rv) this.resourceVersion = rv;
        } catch (err) {
          this.opts.log.error('handling a watch event failed', {
            resource: this.resource,
            type,
            ...errorFields(err),
          });
        }
      };
      const params = {
        resourceVersion: this.resourceVersion,
        timeoutSeconds: this.opts.watchTimeoutSeconds?.() ?? 300 + Math.floor(Math.random() * 300),
      };
      this.opts.client.watch(params, onEvent, finish).then(
        (controller) => {
          if (finished) controller.abort();
          else this.activeWatch = controller;
        },
        (err: unknown) => finish(err ?? new Error('watch failed')),
      );
    });
  }

  /** Caches the projection of `raw`; tells the handler when it differs from the cached one. Returns the key. */
  private upsert(raw: unknown, type: EventType, receivedAt: number): string {
    this.opts.observer?.event(this.resource, type);
    const obj = this.opts.project(raw);
    const key = this.opts.keyOf(obj);
    const rv = resourceVersionOf(raw);
    const prev = this.cache.get(key);
    if (prev && rv !== '' && prev.rv === rv) return key;
    if (prev && plainEqual(prev.obj, obj)) {
      prev.rv = rv;
      return key;
    }
    this.cache.set(key, { rv, obj });
    if (!prev) this.opts.observer?.size(this.resource, this.cache.size);
    this.opts.handler.upsert(obj, receivedAt);
    return key;
  }

  private remove(raw: unknown, receivedAt: number): void {
    this.opts.observer?.event(this.resource, 'deleted');
    const key = this.opts.keyOf(this.opts.project(raw));
    const prev = this.cache.get(key);
    if (!prev) return;
    this.cache.delete(key);
    this.opts.observer?.size(this.resource, this.cache.size);
    this.opts.handler.delete(key, prev.obj, receivedAt);
  }
}

function resourceVersionOf(raw: unknown): string {
  const rv = (raw as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
  return typeof rv === 'string' ? rv : '';
}

function statusError(obj: unknown): Error {
  const s = (obj ?? {}) as { message?: unknown; code?: unknown; reason?: unknown };
  const err = new Error(typeof s.message === 'string' ? s.message : 'watch ERROR event');
  if (typeof s.code === 'number') (err as Error & { statusCode?: number }).statusCode = s.code;
  return err;
}
