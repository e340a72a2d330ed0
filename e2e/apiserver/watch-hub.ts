/**
 * WatchHub: serves watches from the VersionedStore, the way kube-apiserver's watch cache does.
 *
 * A watch starts at a resourceVersion: unset or "0" first sends the current state as synthetic ADDED
 * events; a number replays history after it, or, when that history is compacted, sends one ERROR event
 * carrying a 410 Expired Status and ends (what clients take as "relist"). Then it streams live events.
 * Selectors filter by old and new state like upstream's cacheWatcher: an object that starts matching
 * arrives as ADDED, one that stops matching as DELETED (previous content, new resourceVersion).
 * With allowWatchBookmarks, BOOKMARK events carrying the current revision are sent periodically;
 * sendInitialEvents ends its initial ADDED burst with the "k8s.io/initial-events-end" bookmark.
 * timeoutSeconds ends the stream cleanly. closeAll() ends every stream (clients resume from their last
 * resourceVersion).
 */
import { errors, type Status } from './errors';
import type { ResourceType } from './resources';
import { fieldsMatch, labelsMatch, type FieldSelector, type LabelSelector } from './selectors';
import type { StoreEvent, VersionedStore } from './store';
import type { KubeObject } from './types';

export type WatchEventKind = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  type: WatchEventKind;
  object: KubeObject | Status;
}

export interface WatchRequest {
  rt: ResourceType;
  namespace?: string;
  labelSelector: LabelSelector;
  fieldSelector: FieldSelector;
  resourceVersion?: string;
  allowBookmarks: boolean;
  sendInitialEvents: boolean;
  timeoutSeconds?: number;
}

/** Where a watch's events go (an HTTP response, or a test's callback). Must not mutate objects. */
export interface WatchSink {
  send(event: WatchEvent): void;
  end(): void;
}

export interface ActiveWatch {
  readonly request: WatchRequest;
  stop(): void;
}

export class WatchHub {
  private readonly active = new Set<ActiveWatch>();

  constructor(
    private readonly store: VersionedStore,
    private readonly bookmarkIntervalMs: number,
  ) {}

  get activeCount(): number {
    return this.active.size;
  }

  /** Ends every watch of one resource (its CRD is gone: the resource is no longer served). */
  closeResource(plural: string): void {
    for (const w of [...this.active]) if (w.request.rt.plural === plural) w.stop();
  }

  start(request: WatchRequest, sink: WatchSink): ActiveWatch {
    const { rt } = request;
    let stopped = false;
    const timers: NodeJS.Timeout[] = [];
    let unsubscribe = () => {};
    const watch: ActiveWatch = {
      request,
      stop: () => {
        if (stopped) return;
        stopped = true;
        unsubscribe();
        timers.forEach((t) => clearTimeout(t));
        this.active.delete(watch);
        sink.end();
      },
    };
    this.active.add(watch);

    const deliver = (event: StoreEvent) => {
      if (event.resource !== rt.plural || stopped) return;
      const converted = this.convert(request, event);
      if (converted) sink.send(converted);
    };
    const bookmark = (annotations?: Record<string, string>) =>
      sink.send({
        type: 'BOOKMARK',
        object: {
          kind: rt.kind,
          apiVersion: rt.apiVersion,
          metadata: {
            resourceVersion: String(this.store.currentRevision),
            ...(annotations ? { annotations } : {}),
          },
        },
      });

    const rv = request.resourceVersion;
    if (request.sendInitialEvents || rv === undefined || rv === '' || rv === '0') {
      for (const obj of this.store.list(rt.plural)) {
        if (this.matches(request, obj)) sink.send({ type: 'ADDED', object: obj });
      }
      if (request.sendInitialEvents && request.allowBookmarks)
        bookmark({ 'k8s.io/initial-events-end': 'true' });
    } else {
      const history = this.store.eventsSince(Number(rv));
      if (history === 'expired') {
        const status = errors
          .expired(`too old resource version: ${rv} (${this.store.oldestWatchableRevision})`)
          .toStatus();
        sink.send({ type: 'ERROR', object: status });
        watch.stop();
        return watch;
      }
      history.forEach(deliver);
    }
    unsubscribe = this.store.subscribe(deliver);
    if (request.allowBookmarks) {
      const tick = () => {
        if (stopped) return;
        bookmark();
        timers[0] = setTimeout(tick, this.bookmarkIntervalMs);
      };
      timers[0] = setTimeout(tick, this.bookmarkIntervalMs);
    }
    if (request.timeoutSeconds !== undefined && request.timeoutSeconds > 0) {
      timers.push(setTimeout(() => watch.stop(), request.timeoutSeconds * 1000));
    }
    return watch;
  }

  /** Ends every watch stream; clients see a clean end of stream. */
  closeAll(): void {
    for (const watch of [...this.active]) watch.stop();
  }

  private matches(request: WatchRequest, obj: KubeObject): boolean {
    if (request.namespace && obj.metadata.namespace !== request.namespace) return false;
    return (
      labelsMatch(request.labelSelector, obj.metadata.labels) &&
      fieldsMatch(request.fieldSelector, request.rt.fieldsOf(obj))
    );
  }

  /** upstream cacheWatcher.convertToWatchEvent: the event as this watcher's filter sees it. */
  private convert(request: WatchRequest, event: StoreEvent): WatchEvent | undefined {
    const currentPasses = event.type !== 'DELETED' && this.matches(request, event.object);
    const previousPasses = event.prevObject !== undefined && this.matches(request, event.prevObject);
    if (currentPasses && !previousPasses) return { type: 'ADDED', object: event.object };
    if (currentPasses && previousPasses) return { type: 'MODIFIED', object: event.object };
    if (!currentPasses && previousPasses && event.prevObject) {
      const previous = structuredClone(event.prevObject);
      previous.metadata.resourceVersion = String(event.revision);
      return { type: 'DELETED', object: previous };
    }
    return undefined;
  }
}
