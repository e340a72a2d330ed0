/**
 * Registry: the REST semantics of kube-apiserver's generic registry over the VersionedStore, shared by
 * HTTP handlers and the in-process test API so both produce identical writes and watch events.
 *
 * - create: namespace must exist and not be terminating; name or generateName; uid, creationTimestamp,
 *   generation=1 set; status reset (kinds with a status subresource); defaults applied; 409 on duplicate.
 * - update/patch: metadata.resourceVersion, when given, is a precondition (409 Conflict when stale);
 *   the main resource cannot change status and /status can change nothing but status; generation bumps
 *   when anything outside metadata/status changes; a no-op write stores nothing and emits no event.
 * - delete: immediate unless metadata.finalizers is non-empty (then deletionTimestamp is set and the
 *   object goes when its last finalizer is removed). Deleting a namespace marks it Terminating, deletes
 *   its contents, and removes it once empty (the namespace controller's work, done synchronously).
 * - custom resources: unknown fields are pruned (refused with fieldValidation=Strict); strategic merge
 *   patch is refused (415), as upstream refuses it for custom resources; deleting a CRD deletes its
 *   custom resources first.
 * `privileged` writes (in-process test API, state files) may set status together with the object and
 * skip the kind's spec validation.
 */
import { randomUUID } from 'node:crypto';
import { ApiError, errors } from './errors';
import { applyJsonPatch, JsonPatchError } from './patch/json-patch';
import { applyMergePatch } from './patch/merge-patch';
import { PATCH_META_BY_KIND } from './patch/patch-meta';
import { applyPatchFor } from './patch/server-side-apply';
import { applyStrategicMergePatch, SmpError } from './patch/strategic-merge-patch';
import { CRD_PLURAL, crdPlural } from './kinds/custom-resource-definitions';
import { namespaces, RESOURCE_TYPES, validateObject, type ResourceType, type Subresource } from './resources';
import { fieldsMatch, labelsMatch, parseFieldSelector, parseLabelSelector } from './selectors';
import { objectKey, VersionedStore } from './store';
import { clone, isPlainObject, jsonEqual, type KubeObject } from './types';

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export interface WriteOptions {
  dryRun?: boolean;
  /** In-process and state-file writes: status may be set directly, kind spec validation is skipped. */
  privileged?: boolean;
  fieldManager?: string;
  /** Strict: unknown fields are an error (kubectl's default); otherwise they are pruned. */
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore';
}

export interface UpdateOptions extends WriteOptions {
  /** Only 'status' changes what is written; the handlers route the other subresources elsewhere. */
  subresource?: Subresource;
}

export interface PatchOptions extends UpdateOptions {
  force?: boolean;
}

export interface DeleteOptions {
  dryRun?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  /** Pods under graceful deletion: seconds until a kubelet must have stopped them (0: at once). */
  gracePeriodSeconds?: number;
}

export interface RegistryOptions {
  /**
   * Pods bound to a node are deleted gracefully, as upstream: DELETE sets deletionTimestamp
   * (now + grace period) and the object stays until the node's kubelet, having stopped the pod,
   * deletes it with a grace period of 0. Off by default: without a kubelet such pods would stay.
   */
  gracefulPodDeletion?: boolean;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface DeleteResult {
  /** The object's last state (removed) or its state with deletionTimestamp set (pending finalizers). */
  object: KubeObject;
  removed: boolean;
}

interface ContinueToken {
  rv: number;
  start: string;
}

const EXPIRED_CONTINUE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.';

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return Array.from({ length: 5 }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
}

/** Everything but metadata and status: what metadata.generation tracks. */
function specPart(obj: KubeObject): Record<string, unknown> {
  const { metadata: _m, status: _s, kind: _k, apiVersion: _a, ...rest } = obj;
  return rest;
}

function withoutResourceVersion(obj: KubeObject): KubeObject {
  const copy = clone(obj);
  delete copy.metadata.resourceVersion;
  return copy;
}

export class Registry {
  /** Last configuration applied per object (by uid) and field manager, for server-side apply. */
  private readonly appliedConfigs = new Map<string, Record<string, unknown>>();

  constructor(
    readonly store: VersionedStore,
    private readonly now: () => Date = () => new Date(),
    /** What the server serves now: the built-in kinds and its CRDs' custom resources. */
    private readonly types: () => readonly ResourceType[] = () => RESOURCE_TYPES,
    private readonly options: RegistryOptions = {},
  ) {}

  get(rt: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.store.get(rt.plural, this.key(rt, namespace, name));
    if (!obj) throw errors.notFound(rt, name);
    return obj;
  }

  list(rt: ResourceType, options: ListOptions = {}): ListResult {
    const labelSelector = parseLabelSelector(options.labelSelector ?? '');
    const fieldSelector = parseFieldSelector(options.fieldSelector ?? '', rt.selectableFields);
    let revision = this.store.currentRevision;
    let start: string | undefined;
    let objects: KubeObject[];
    if (options.continue) {
      const token = this.decodeContinue(options.continue);
      revision = token.rv;
      start = token.start;
      const snapshot = this.store.listAt(rt.plural, revision);
      if (snapshot === 'expired') throw errors.expired(EXPIRED_CONTINUE);
      objects = snapshot;
    } else if (options.resourceVersionMatch === 'Exact') {
      revision = Number(options.resourceVersion);
      if (!Number.isInteger(revision) || revision <= 0) {
        throw errors.badRequest(`invalid resource version "${options.resourceVersion}" for an Exact match`);
      }
      const snapshot = this.store.listAt(rt.plural, revision);
      if (snapshot === 'expired') {
        throw errors.expired(`too old resource version: ${revision} (${this.store.oldestWatchableRevision})`);
      }
      objects = snapshot;
    } else {
      objects = this.store.list(rt.plural);
    }
    const matching = objects.filter((obj) => {
      if (options.namespace && obj.metadata.namespace !== options.namespace) return false;
      if (start !== undefined && this.key(rt, obj.metadata.namespace, obj.metadata.name ?? '') <= start)
        return false;
      return labelsMatch(labelSelector, obj.metadata.labels) && fieldsMatch(fieldSelector, rt.fieldsOf(obj));
    });
    const limit = options.limit && options.limit > 0 ? options.limit : undefined;
    if (limit === undefined || matching.length <= limit) {
      return { items: matching, resourceVersion: String(revision) };
    }
    const page = matching.slice(0, limit);
    const last = page[page.length - 1];
    const token: ContinueToken = {
      rv: revision,
      start: this.key(rt, last.metadata.namespace, last.metadata.name ?? ''),
    };
    return {
      items: page,
      resourceVersion: String(revision),
      continue: Buffer.from(JSON.stringify(token)).toString('base64url'),
      remainingItemCount: matching.length - limit,
    };
  }

  create(
    rt: ResourceType,
    namespace: string | undefined,
    body: unknown,
    options: WriteOptions = {},
  ): KubeObject {
    const obj = this.decodeBody(rt, namespace, body);
    if (!obj.metadata.name && obj.metadata.generateName)
      obj.metadata.name = obj.metadata.generateName + randomSuffix();
    const name = obj.metadata.name ?? '';
    if (rt.namespaced) this.checkNamespaceAcceptsContent(rt, obj.metadata.namespace ?? '', name);
    if (obj.metadata.resourceVersion && !options.privileged) {
      throw errors.invalid(rt, name, [
        {
          reason: 'FieldValueInvalid',
          field: 'metadata.resourceVersion',
          message: 'Invalid value: must be empty on create',
        },
      ]);
    }
    // Privileged creates (state files, fixtures) keep their age; uids are always fresh, as a copied
    // fixture must not share one, and revisions are always renumbered.
    const { creationTimestamp } = obj.metadata;
    for (const serverSet of [
      'uid',
      'resourceVersion',
      'deletionTimestamp',
      'deletionGracePeriodSeconds',
      'selfLink',
    ]) {
      delete obj.metadata[serverSet];
    }
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp =
      options.privileged && creationTimestamp ? creationTimestamp : timestamp(this.now());
    obj.metadata.generation = 1;
    rt.prepareForCreate(obj, options.privileged === true);
    rt.applyDefaults(obj);
    this.validate(rt, obj, options);
    const key = this.key(rt, obj.metadata.namespace, name);
    if (this.store.get(rt.plural, key)) throw errors.alreadyExists(rt, name);
    return options.dryRun ? obj : this.store.put(rt.plural, key, obj);
  }

  update(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    options: UpdateOptions = {},
  ): KubeObject {
    const obj = this.decodeBody(rt, namespace, body);
    if (obj.metadata.name !== name) {
      throw errors.badRequest(
        `the name of the object (${obj.metadata.name ?? ''}) does not match the name on the URL (${name})`,
      );
    }
    const old = this.get(rt, namespace, name);
    return this.commitUpdate(rt, old, obj, options);
  }

  patch(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    options: PatchOptions = {},
  ): { object: KubeObject; created: boolean } {
    const meta = PATCH_META_BY_KIND[rt.kind];
    const key = this.key(rt, namespace, name);
    const live = this.store.get(rt.plural, key);
    if (type === 'apply') return this.serverSideApply(rt, namespace, name, live, patch, options);
    if (type === 'strategic' && rt.customResource) {
      throw errors.unsupportedMediaType('application/strategic-merge-patch+json', [
        'application/json-patch+json',
        'application/merge-patch+json',
        'application/apply-patch+yaml',
      ]);
    }
    if (!live) throw errors.notFound(rt, name);
    let patched: unknown;
    try {
      if (type === 'json') patched = applyJsonPatch(live, patch);
      else if (type === 'merge') patched = applyMergePatch(live, patch);
      else patched = applyStrategicMergePatch(live, patch, meta);
    } catch (err) {
      if (err instanceof JsonPatchError) {
        throw new ApiError(
          422,
          'Invalid',
          `the server rejected our request due to an error in our request: ${err.message}`,
        );
      }
      if (err instanceof SmpError) throw errors.badRequest(err.message);
      throw err;
    }
    const obj = this.decodeBody(rt, namespace, patched);
    if (obj.metadata.name !== name) throw errors.badRequest('metadata.name cannot be changed by a patch');
    return { object: this.commitUpdate(rt, live, obj, options), created: false };
  }

  delete(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions = {},
  ): DeleteResult {
    const obj = this.get(rt, namespace, name);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== obj.metadata.uid) {
      throw errors.conflict(
        rt,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`,
      );
    }
    if (pre?.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
      throw errors.conflict(
        rt,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`,
      );
    }
    if (options.dryRun) return { object: obj, removed: true };
    if (rt === namespaces) return this.deleteNamespace(obj);
    const grace = this.podGracePeriod(rt, obj, options.gracePeriodSeconds);
    if (grace > 0) return this.markTerminating(rt, obj, grace);
    if (rt.plural === CRD_PLURAL) this.deleteCustomResources(obj);
    return this.deleteOrMark(rt, obj);
  }

  /**
   * The grace period a pod deletion gets (0 = remove now): upstream's pod strategy
   * (CheckGracefulDelete). Only pods bound to a node and still running wait for their kubelet.
   */
  private podGracePeriod(rt: ResourceType, pod: KubeObject, requested: number | undefined): number {
    if (!this.options.gracefulPodDeletion || rt.kind !== 'Pod') return 0;
    const spec = isPlainObject(pod.spec) ? pod.spec : {};
    const phase = isPlainObject(pod.status) ? pod.status.phase : undefined;
    if (!spec.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
    const fallback =
      typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30;
    const grace = requested ?? fallback;
    // A pod already terminating may have its grace period shortened, never lengthened.
    const current = pod.metadata.deletionGracePeriodSeconds;
    if (pod.metadata.deletionTimestamp && typeof current === 'number')
      return grace === 0 ? 0 : Math.min(current, grace);
    return grace;
  }

  private markTerminating(rt: ResourceType, obj: KubeObject, graceSeconds: number): DeleteResult {
    if (obj.metadata.deletionTimestamp && obj.metadata.deletionGracePeriodSeconds === graceSeconds)
      return { object: obj, removed: false };
    obj.metadata.deletionTimestamp = timestamp(new Date(this.now().getTime() + graceSeconds * 1000));
    obj.metadata.deletionGracePeriodSeconds = graceSeconds;
    const key = this.key(rt, obj.metadata.namespace, obj.metadata.name ?? '');
    return { object: this.store.put(rt.plural, key, obj), removed: false };
  }

  /** POST pods/NAME/binding: assigns an unbound pod to a node (what a scheduler does). */
  bind(rt: ResourceType, namespace: string | undefined, name: string, body: unknown): KubeObject {
    const binding = isPlainObject(body) ? body : {};
    const target = isPlainObject(binding.target) ? binding.target : {};
    const node = typeof target.name === 'string' ? target.name : '';
    if (!node) throw errors.badRequest('a Binding needs target.name, the node');
    const pod = this.get(rt, namespace, name);
    if (pod.metadata.deletionTimestamp) throw errors.conflict(rt, name, 'the pod is being deleted');
    const spec = isPlainObject(pod.spec) ? pod.spec : (pod.spec = {});
    if (spec.nodeName)
      throw errors.conflict(rt, name, `pod ${name} is already assigned to node "${String(spec.nodeName)}"`);
    spec.nodeName = node;
    return this.commitUpdate(rt, this.get(rt, namespace, name), pod, {});
  }

  /** GET .../scale: the autoscaling/v1 Scale of a Deployment or StatefulSet. */
  getScale(rt: ResourceType, namespace: string | undefined, name: string): KubeObject {
    return this.scaleOf(rt, this.get(rt, namespace, name));
  }

  /** PUT .../scale: writes spec.replicas of the parent (resourceVersion, when given, must be current). */
  updateScale(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    dryRun = false,
  ): KubeObject {
    const scale = isPlainObject(body) ? body : {};
    const spec = isPlainObject(scale.spec) ? scale.spec : {};
    const replicas = spec.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw new ApiError(
        422,
        'Invalid',
        `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
      );
    }
    const parent = this.get(rt, namespace, name);
    const meta = isPlainObject(scale.metadata) ? scale.metadata : {};
    if (
      typeof meta.resourceVersion === 'string' &&
      meta.resourceVersion &&
      meta.resourceVersion !== parent.metadata.resourceVersion
    )
      throw errors.staleResourceVersion(rt, name);
    const changed = clone(parent);
    (isPlainObject(changed.spec) ? changed.spec : (changed.spec = {})).replicas = replicas;
    return this.scaleOf(rt, this.commitUpdate(rt, parent, changed, { dryRun }));
  }

  /** PATCH .../scale: the patch applies to the Scale, whose replicas then go to the parent. */
  patchScale(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    dryRun = false,
  ): KubeObject {
    const scale = this.getScale(rt, namespace, name);
    let patched: unknown;
    try {
      if (type === 'json') patched = applyJsonPatch(scale, patch);
      else if (type === 'merge' || type === 'strategic') patched = applyMergePatch(scale, patch);
      else
        throw errors.unsupportedMediaType('application/apply-patch+yaml', [
          'application/merge-patch+json',
          'application/strategic-merge-patch+json',
          'application/json-patch+json',
        ]);
    } catch (err) {
      if (err instanceof JsonPatchError) throw new ApiError(422, 'Invalid', err.message);
      throw err;
    }
    return this.updateScale(rt, namespace, name, patched, dryRun);
  }

  private scaleOf(rt: ResourceType, parent: KubeObject): KubeObject {
    const spec = isPlainObject(parent.spec) ? parent.spec : {};
    const status = isPlainObject(parent.status) ? parent.status : {};
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: parent.metadata.name,
        namespace: parent.metadata.namespace,
        uid: parent.metadata.uid,
        resourceVersion: parent.metadata.resourceVersion,
        creationTimestamp: parent.metadata.creationTimestamp,
      },
      spec: { replicas: Number(spec.replicas ?? 0) },
      status: { replicas: Number(status.replicas ?? 0), selector: rt.scaleSelector?.(parent) ?? '' },
    };
  }

  deleteCollection(rt: ResourceType, options: ListOptions & DeleteOptions): KubeObject[] {
    const { items } = this.list(rt, { ...options, limit: undefined, continue: undefined });
    return items.map(
      (obj) => this.delete(rt, obj.metadata.namespace, obj.metadata.name ?? '', options).object,
    );
  }

  private serverSideApply(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    live: KubeObject | undefined,
    config: unknown,
    options: PatchOptions,
  ): { object: KubeObject; created: boolean } {
    if (!options.fieldManager)
      throw errors.badRequest('PATCH with application/apply-patch+yaml requires a fieldManager');
    const applied = this.decodeBody(rt, namespace, config);
    if (applied.metadata.name !== name) {
      throw errors.badRequest(
        `the name of the object (${applied.metadata.name ?? ''}) does not match the name on the URL (${name})`,
      );
    }
    if (!live) {
      const created = this.create(rt, namespace, applied, options);
      if (!options.dryRun)
        this.appliedConfigs.set(`${created.metadata.uid}/${options.fieldManager}`, clone(applied));
      return { object: created, created: true };
    }
    const configKey = `${live.metadata.uid}/${options.fieldManager}`;
    const patch = applyPatchFor(this.appliedConfigs.get(configKey), applied, PATCH_META_BY_KIND[rt.kind]);
    delete (patch.metadata as Record<string, unknown> | undefined)?.resourceVersion;
    const merged = applyStrategicMergePatch(live, patch, PATCH_META_BY_KIND[rt.kind]);
    const object = this.commitUpdate(rt, live, this.decodeBody(rt, namespace, merged), options);
    if (!options.dryRun) this.appliedConfigs.set(configKey, clone(applied));
    return { object, created: false };
  }

  private commitUpdate(
    rt: ResourceType,
    old: KubeObject,
    incoming: KubeObject,
    options: UpdateOptions,
  ): KubeObject {
    const name = old.metadata.name ?? '';
    const precondition = incoming.metadata.resourceVersion;
    if (precondition && precondition !== old.metadata.resourceVersion)
      throw errors.staleResourceVersion(rt, name);
    let obj: KubeObject;
    if (options.subresource === 'status') {
      // Upstream's status strategies: only status changes through /status (ResetObjectMetaForStatus).
      obj = clone(old);
      if (incoming.status === undefined) delete obj.status;
      else obj.status = incoming.status;
      this.validateStatus(rt, obj, options);
    } else {
      obj = incoming;
      const hasStatusSubresource = rt.subresources.includes('status');
      if (hasStatusSubresource && !options.privileged) {
        if (old.status === undefined) delete obj.status;
        else obj.status = clone(old.status);
      }
      for (const immutable of [
        'uid',
        'creationTimestamp',
        'deletionTimestamp',
        'deletionGracePeriodSeconds',
      ]) {
        if (old.metadata[immutable] === undefined) delete obj.metadata[immutable];
        else obj.metadata[immutable] = old.metadata[immutable];
      }
      if (rt === namespaces) {
        // spec.finalizers belongs to the namespace controller (the /finalize subresource upstream).
        const spec = isPlainObject(obj.spec) ? obj.spec : (obj.spec = {});
        spec.finalizers = clone((old.spec as Record<string, unknown> | undefined)?.finalizers);
      }
      rt.applyDefaults(obj);
      this.validate(rt, obj, options);
      const changed = !jsonEqual(specPart(obj), specPart(old));
      obj.metadata.generation = (old.metadata.generation ?? 1) + (changed ? 1 : 0);
    }
    obj.metadata.resourceVersion = old.metadata.resourceVersion;
    if (jsonEqual(withoutResourceVersion(obj), withoutResourceVersion(old))) return old;
    if (options.dryRun) return obj;
    const key = this.key(rt, old.metadata.namespace, name);
    if (
      obj.metadata.deletionTimestamp &&
      !(obj.metadata.finalizers ?? []).length &&
      this.mayRemove(rt, obj)
    ) {
      // Upstream aborts the update and deletes the object: watchers see only DELETED.
      return this.remove(rt, key, old.metadata.namespace);
    }
    return this.store.put(rt.plural, key, obj);
  }

  private deleteOrMark(rt: ResourceType, obj: KubeObject): DeleteResult {
    const key = this.key(rt, obj.metadata.namespace, obj.metadata.name ?? '');
    if ((obj.metadata.finalizers ?? []).length > 0 || !this.mayRemove(rt, obj)) {
      if (obj.metadata.deletionTimestamp) return { object: obj, removed: false };
      obj.metadata.deletionTimestamp = timestamp(this.now());
      obj.metadata.deletionGracePeriodSeconds = 0;
      return { object: this.store.put(rt.plural, key, obj), removed: false };
    }
    return { object: this.remove(rt, key, obj.metadata.namespace), removed: true };
  }

  private deleteNamespace(ns: KubeObject): DeleteResult {
    const name = ns.metadata.name ?? '';
    if (!ns.metadata.deletionTimestamp) {
      ns.metadata.deletionTimestamp = timestamp(this.now());
      ns.metadata.deletionGracePeriodSeconds = 0;
      ns.status = { ...(isPlainObject(ns.status) ? ns.status : {}), phase: 'Terminating' };
      ns = this.store.put(namespaces.plural, name, ns);
    }
    for (const rt of this.types().filter((r) => r.namespaced)) {
      for (const obj of this.store.list(rt.plural).filter((o) => o.metadata.namespace === name)) {
        if (obj.metadata.deletionTimestamp) continue;
        const grace = this.podGracePeriod(rt, obj, undefined);
        if (grace > 0) this.markTerminating(rt, obj, grace);
        else this.deleteOrMark(rt, obj);
      }
    }
    const current = this.store.get(namespaces.plural, name);
    if (!current) return { object: ns, removed: true };
    return this.deleteOrMark(namespaces, current);
  }

  /** The apiextensions finalizer's work, done synchronously: a CRD's custom resources go first. */
  private deleteCustomResources(crd: KubeObject): void {
    const plural = crdPlural(crd);
    for (const obj of this.store.list(plural)) {
      this.store.remove(plural, objectKey(obj.metadata.namespace, obj.metadata.name ?? ''));
    }
  }

  /** A namespace goes only once it holds nothing; anything else whenever its finalizers allow. */
  private mayRemove(rt: ResourceType, obj: KubeObject): boolean {
    if (rt !== namespaces) return true;
    const name = obj.metadata.name;
    return this.types().every(
      (r) => !r.namespaced || !this.store.list(r.plural).some((o) => o.metadata.namespace === name),
    );
  }

  private remove(rt: ResourceType, key: string, namespace: string | undefined): KubeObject {
    const removed = this.store.remove(rt.plural, key) as KubeObject;
    if (namespace) {
      const ns = this.store.get(namespaces.plural, namespace);
      if (
        ns?.metadata.deletionTimestamp &&
        !(ns.metadata.finalizers ?? []).length &&
        this.mayRemove(namespaces, ns)
      ) {
        this.store.remove(namespaces.plural, namespace);
      }
    }
    return removed;
  }

  private checkNamespaceAcceptsContent(rt: ResourceType, namespace: string, name: string): void {
    const ns = this.store.get(namespaces.plural, namespace);
    if (!ns) throw errors.namespaceNotFound(namespace);
    if (ns.metadata.deletionTimestamp) {
      throw errors.forbidden(
        rt,
        name,
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
    }
  }

  private validate(rt: ResourceType, obj: KubeObject, options: WriteOptions): void {
    const unknown = rt.pruneUnknownFields?.(obj) ?? [];
    if (unknown.length > 0 && options.fieldValidation === 'Strict' && !options.privileged) {
      throw errors.badRequest(
        `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`,
      );
    }
    const causes = validateObject(rt, obj, !options.privileged);
    if (causes.length > 0) throw errors.invalid(rt, obj.metadata.name ?? '', causes);
  }

  private validateStatus(rt: ResourceType, obj: KubeObject, options: WriteOptions): void {
    if (options.privileged || !rt.validateStatus) return;
    const causes = rt.validateStatus(obj);
    if (causes.length > 0) throw errors.invalid(rt, obj.metadata.name ?? '', causes);
  }

  /** Checks kind/apiVersion and namespace of a request body, returning a canonical copy. */
  private decodeBody(rt: ResourceType, namespace: string | undefined, body: unknown): KubeObject {
    if (!isPlainObject(body)) throw errors.badRequest('the request body must be a JSON object');
    const obj = clone(body) as KubeObject;
    if (
      (obj.kind !== undefined && obj.kind !== rt.kind) ||
      (obj.apiVersion !== undefined && obj.apiVersion !== rt.apiVersion)
    ) {
      throw errors.badRequest(
        `the API version in the data (${String(obj.apiVersion)}) and kind (${String(obj.kind)}) do not match ${rt.apiVersion} ${rt.kind}`,
      );
    }
    if (!isPlainObject(obj.metadata)) obj.metadata = {};
    obj.apiVersion = rt.apiVersion;
    obj.kind = rt.kind;
    if (rt.namespaced) {
      const given = obj.metadata.namespace;
      if (given && namespace && given !== namespace) {
        throw errors.badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      obj.metadata.namespace = given || namespace;
      if (!obj.metadata.namespace) throw errors.badRequest('a namespace is required for a namespaced object');
    } else {
      delete obj.metadata.namespace;
    }
    return obj;
  }

  private decodeContinue(token: string): ContinueToken {
    try {
      const parsed = JSON.parse(Buffer.from(token, 'base64url').toString()) as ContinueToken;
      if (Number.isInteger(parsed.rv) && typeof parsed.start === 'string') return parsed;
    } catch {
      // fall through
    }
    throw errors.badRequest('invalid continue token');
  }

  private key(rt: ResourceType, namespace: string | undefined, name: string): string {
    return objectKey(rt.namespaced ? namespace : undefined, name);
  }
}
