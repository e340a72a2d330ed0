/**
 * Agent: wires the pipeline of `palisade agent` (see README.md for the picture).
 *
 *   API server ─list+watch─▶ Reflector ×5 ─slim projections─▶ Compilation (model + IR)
 *        (namespaces, pods, networkpolicies, nodes,  │ notify(receivedAt)
 *         clusternetworkpolicies: optional, its CRD  │
 *         may be absent and installed later)         ▼
 *   resync timer ─requestRepair─▶ SyncRunner ─compile()+sync(state, delta)─▶ Dataplane ─▶ kernel
 *   drift watch (nftables: nft monitor) ─requestRepair─┘                 (iptables | nftables)
 *                                                   │
 *   HealthServer (/healthz /readyz /metrics)  ◀─────┴─────▶  DebugServer (unix socket, JSON)
 *
 * Lifecycle: start() brings up the servers, builds the dataplane of the configured backend
 * (for iptables, resolving which iptables: nft or legacy) and starts the
 * reflectors; the runner programs nothing until all of them have listed once (a
 * ClusterNetworkPolicy list answered 404 counts: the CRD is absent, so there is nothing to
 * wait for; the reflector keeps looking and picks the CRD up when installed). stop() closes the
 * watches, lets an in-flight apply finish (bounded), closes the servers and removes the socket;
 * the kernel state stays as it is, so a restarted agent adopts it without a gap (the
 * dataplane's first sync diffs against the kernel; nothing is ever flushed on start).
 */
import {
  compileClusterPolicy,
  unsupportedRuleWarnings,
  type ClusterPolicyInfo,
  type CompileDelta,
  type CompiledState,
  type NamespaceInfo,
  type NodeInfo,
  type PodInfo,
  type PolicyInfo,
} from '../../compiler';
import { createDataplane, ProcessKernel, type Dataplane, type Kernel } from '../../dataplane/api';
import { ConntrackTable } from '../../dataplane/conntrack';
import { FlowCutter, type CutReport } from './flow-cutter';
import type { ResourceClient, ResourceName } from '../kube/client';
import { createResourceClients, loadKubeConfig } from '../kube/client';
import { Reflector, type ReflectorHandler, type ReflectorObserver } from '../kube/reflector';
import {
  CLUSTER_NETWORK_POLICIES,
  NAMESPACES,
  NETWORK_POLICIES,
  NODES,
  PODS,
  type ResourceSpec,
} from '../kube/resources';
import type { BackoffOptions } from './backoff';
import { binariesFor } from './backend';
import { systemClock, type Clock, type Timer } from './clock';
import { createCompilation, type Compilation } from './compilation';
import { describeConfig, verdictLogOptions, type Config } from './config';
import { DebugServer } from './debug-server';
import { HealthServer } from './health-server';
import { resolveIptablesBackend, type IptablesBackend } from './iptables-mode';
import { createLogger, errorFields, type Logger } from './logger';
import { AgentMetrics } from './metrics';
import { SyncRunner } from './runner';
import { noCapture, spawnCapture, type CaptureStarter } from './verdicts/capture';
import { VerdictLog } from './verdicts/service';

/** What tests may replace; production uses the defaults. */
export interface AgentDeps {
  readonly clock?: Clock;
  readonly log?: Logger;
  readonly metrics?: AgentMetrics;
  /** Runs kernel tools (backend detection and the dataplane); default ProcessKernel. */
  readonly kernel?: Kernel;
  /** A ready dataplane (skips backend resolution). */
  readonly dataplane?: Dataplane;
  /** API access; default built from config.kubeconfig (or in-cluster). */
  readonly resourceClients?: Record<ResourceName, ResourceClient>;
  readonly reflectorBackoff?: BackoffOptions;
  readonly retryBackoff?: BackoffOptions;
  /** How often to look again for an absent ClusterNetworkPolicy CRD; default 1 s doubling to 30 s. */
  readonly absentPoll?: BackoffOptions;
  /** Starts the verdict log reader (tcpdump); default a child process. */
  readonly captureStarter?: CaptureStarter;
  /** The tcpdump binary; default `tcpdump` on PATH. */
  readonly tcpdump?: string;
  /** How often the kernel's rate-limit counters are read; default 5 s (verdicts/service.ts). */
  readonly logCounterPeriodMs?: number;
}

/** Whether the API server serves ClusterNetworkPolicies (the CRD is installed). */
export type CrdState = 'unknown' | 'installed' | 'absent';

export class Agent {
  readonly log: Logger;
  readonly metrics: AgentMetrics;
  private readonly clock: Clock;
  private readonly compilation: Compilation;
  private runner: SyncRunner | undefined;
  private dataplane: Dataplane | undefined;
  private backend: IptablesBackend | 'injected' | 'not used' = 'injected';
  private reflectors: Array<Reflector<unknown>> = [];
  private crd: CrdState = 'unknown';
  /** Per ClusterNetworkPolicy, the rules Palisade cannot enforce as written (domainNames peers). */
  private readonly unsupported = new Map<string, string[]>();
  private health: HealthServer | undefined;
  private debug: DebugServer | undefined;
  private verdicts: VerdictLog | undefined;
  private resyncTimer: Timer | undefined;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | undefined;
  /** Port the health server bound (differs from the config with port 0). */
  metricsPort: number | undefined;

  constructor(
    readonly config: Config,
    private readonly deps: AgentDeps = {},
  ) {
    this.clock = deps.clock ?? systemClock;
    this.log = deps.log ?? createLogger(config.logLevel);
    this.metrics = deps.metrics ?? new AgentMetrics();
    this.compilation = createCompilation(config.syncMode, config.nodeName, config.localPodCIDRs);
  }

  async start(): Promise<void> {
    const { config, log } = this;
    log.info('starting palisade agent', { config: describeConfig(config) });
    // API access first: a wrong kubeconfig fails the start before anything listens.
    const clients =
      this.deps.resourceClients ?? (await createResourceClients(await loadKubeConfig(config.kubeconfig)));

    if (config.metricsAddress !== '') {
      this.health = new HealthServer(
        {
          healthProblems: () => this.healthProblems(),
          ready: () => ({ ready: this.runner?.status().ready ?? false, synced: this.allSynced() }),
        },
        this.metrics.registry,
        log.child({ component: 'health' }),
      );
      this.metricsPort = await this.health.start(config.metricsAddress);
    }

    this.dataplane = this.deps.dataplane ?? (await this.buildDataplane());
    this.verdicts = config.verdictLog === 'off' ? undefined : this.buildVerdictLog();
    const runner = new SyncRunner({
      compiler: this.compilation,
      // The verdict log's table of log points follows every delta, ahead of the kernel write.
      dataplane: this.verdicts ? this.verdicts.tracking(this.dataplane) : this.dataplane,
      clock: this.clock,
      log: log.child({ component: 'runner' }),
      metrics: this.metrics,
      minIntervalMs: config.minSyncIntervalMs,
      retry: this.deps.retryBackoff,
      ...(config.keepEstablished ? {} : { afterApply: this.flowCutterStep() }),
    });
    this.runner = runner;
    const verdicts = this.verdicts;
    const dataplane = this.dataplane;
    if (verdicts) {
      // Events lost to the kernel's rate limit, from its counters. The first reading is the
      // baseline, so it waits until the first apply has written (or adopted) them.
      void runner
        .whenReady()
        .then(() => verdicts.countRateLimit(() => dataplane.readLogCounters(), this.deps.logCounterPeriodMs));
    }
    // Foreign changes seen as they happen (nftables) ask for the same repair the resync timer does.
    this.dataplane.watchDrift((change) => {
      this.metrics.foreignChanges.inc({ certain: String(change.certain) });
      runner.requestRepair();
    });

    if (config.debugSocket !== '') {
      this.debug = new DebugServer(
        {
          status: () => this.status(),
          view: () => this.compilation.view(),
          desired: () => this.dataplane!.desiredView(),
          actual: () => runner.exclusive(() => this.dataplane!.kernelView()),
          drift: () => runner.exclusive(() => this.dataplane!.checkDrift()),
          verdicts: () => this.verdicts,
        },
        log.child({ component: 'debug' }),
      );
      await this.debug.start(config.debugSocket);
    }

    const c = this.compilation;
    this.reflectors = [
      this.reflector(clients.namespaces, NAMESPACES, {
        upsert: (ns: NamespaceInfo) => c.upsertNamespace(ns),
        delete: (name: string) => c.deleteNamespace(name),
      }),
      this.reflector(clients.pods, PODS, {
        upsert: (p: PodInfo) => c.upsertPod(p),
        delete: (key: string) => c.deletePod(key),
      }),
      this.reflector(clients.networkpolicies, NETWORK_POLICIES, {
        upsert: (p: PolicyInfo) => c.upsertPolicy(p),
        delete: (key: string) => c.deletePolicy(key),
      }),
      this.reflector(clients.nodes, NODES, {
        upsert: (n: NodeInfo) => c.upsertNode(n),
        delete: (name: string) => c.deleteNode(name),
      }),
      this.reflector(
        clients.clusternetworkpolicies,
        CLUSTER_NETWORK_POLICIES,
        {
          upsert: (p: ClusterPolicyInfo) => {
            c.upsertClusterPolicy(p);
            this.noteUnsupported(p);
          },
          delete: (name: string) => {
            c.deleteClusterPolicy(name);
            this.unsupported.delete(name);
          },
        },
        (served) => this.crdServed(served),
      ),
    ];
    for (const r of this.reflectors) r.start();
    this.verdicts?.start();
    // Tampering with our rules or sets is repaired as soon as it is seen, not at the next resync.
    this.dataplane.watchDrift(() => runner.kernelChanged());
    this.armResync();
    log.info('agent started; waiting for caches to sync before programming', { backend: this.backend });
  }

  /** Resolves after the first successful apply. */
  whenReady(): Promise<void> {
    if (!this.runner) throw new Error('agent not started');
    return this.runner.whenReady();
  }

  /** Stops everything; leaves the kernel as it is. Safe to call more than once. */
  stop(reason = 'stop requested'): Promise<void> {
    this.stopping ??= this.doStop(reason);
    return this.stopping;
  }

  private async doStop(reason: string): Promise<void> {
    const log = this.log;
    log.info('stopping agent; kernel rules stay in place', { reason });
    this.resyncTimer?.cancel();
    await Promise.all(this.reflectors.map((r) => r.stop()));
    const finished = (await this.runner?.stop()) ?? true;
    if (!finished) log.warn('abandoned an apply still running at shutdown; the next agent resyncs fully');
    await this.verdicts?.stop();
    // The drift watch's monitor process and timer end here; the kernel rules stay.
    await this.dataplane?.close();
    await Promise.all([this.health?.stop(), this.debug?.stop()]);
    await this.dataplane?.close();
    log.info('agent stopped');
  }

  private async buildDataplane(): Promise<Dataplane> {
    const kernel = this.deps.kernel ?? new ProcessKernel();
    if (this.config.backend === 'nftables') {
      this.backend = 'not used';
      this.log.info('dataplane backend: nftables (table inet palisade, one transaction per change)');
      return createDataplane({
        kernel,
        backend: 'nftables',
        mode: this.config.syncMode,
        newPods: this.config.newPods,
        logger: this.log.child({ component: 'dataplane' }),
        ...(this.config.verdictLog === 'off' ? {} : { verdictLog: verdictLogOptions(this.config) }),
      });
    }
    const { backend, detection } = await resolveIptablesBackend(this.config.iptablesMode, kernel);
    this.backend = backend;
    const binaries = await binariesFor(backend, kernel);
    this.log.info('iptables backend', {
      mode: this.config.iptablesMode,
      backend,
      ...(detection ? { reason: detection.reason, ruleCounts: detection.ruleCounts } : {}),
      restore: binaries.iptablesRestore[4],
    });
    return createDataplane({
      kernel,
      mode: this.config.syncMode,
      newPods: this.config.newPods,
      binaries,
      logger: this.log.child({ component: 'dataplane' }),
      ...(this.config.verdictLog === 'off' ? {} : { verdictLog: verdictLogOptions(this.config) }),
    });
  }

  /** The runner's after-apply step that cuts open connections the new rules deny. */
  private flowCutterStep(): (state: CompiledState, delta: CompileDelta, full: boolean) => Promise<void> {
    const cutter = new FlowCutter(
      new ConntrackTable(this.deps.kernel ?? new ProcessKernel()),
      () => this.compilation.view(),
      () => new Set(this.compilation.view().node(this.config.nodeName)?.addresses ?? []),
    );
    const log = this.log.child({ component: 'flow-cutter' });
    return async (state, delta, full) => {
      const report = await cutter.cut(state, delta, full);
      this.metrics.connectionsChecked.inc(report.checked);
      this.metrics.connectionsCut.inc(report.entries);
      this.cutTotal += report.entries;
      if (report.cut.length > 0) {
        this.lastCut = { at: new Date().toISOString(), ...report };
        log.info('cut open connections the new rules deny', { ...report });
      }
    };
  }

  private cutTotal = 0;
  private lastCut: (CutReport & { at: string }) | undefined;

  /** Verdict logs: the NFLOG reader, the log point table, the event buffer (verdicts/service.ts). */
  private buildVerdictLog(): VerdictLog {
    const c = this.config;
    return new VerdictLog(
      {
        nodeName: c.nodeName,
        group: c.verdictLogGroup,
        allowed: c.verdictLog === 'all',
        bufferSize: c.verdictBuffer,
      },
      {
        clock: this.clock,
        log: this.log.child({ component: 'verdicts' }),
        metrics: this.metrics,
        podOf: (ip) => {
          const p = this.compilation.view().podByIP(ip);
          return p ? `${p.namespace}/${p.name}` : undefined;
        },
        // An injected kernel (tests, the bench) has no NFLOG group of its own: never read the host's.
        start: this.deps.captureStarter ?? (this.deps.kernel ? noCapture : spawnCapture),
        ...(this.deps.tcpdump ? { tcpdump: this.deps.tcpdump } : {}),
      },
    );
  }

  /** The CRD appeared or went away: one log line per change, and the status says it. */
  private crdServed(served: boolean): void {
    const was = this.crd;
    this.crd = served ? 'installed' : 'absent';
    if (was === this.crd) return;
    if (served) {
      this.log.info(
        was === 'unknown'
          ? 'ClusterNetworkPolicy CRD installed: enforcing ClusterNetworkPolicy tiers and NetworkPolicy'
          : 'ClusterNetworkPolicy CRD installed: enforcing ClusterNetworkPolicy tiers from now on',
        { resource: 'clusternetworkpolicies' },
      );
    } else {
      this.log.info(
        'ClusterNetworkPolicy CRD not installed (policy.networking.k8s.io/v1alpha2 clusternetworkpolicies is not served): enforcing NetworkPolicy only; looking for it again with backoff',
        { resource: 'clusternetworkpolicies' },
      );
    }
  }

  /** Logs once per change the rules of a ClusterNetworkPolicy that Palisade cannot enforce as written. */
  private noteUnsupported(p: ClusterPolicyInfo): void {
    const warnings = unsupportedRuleWarnings(compileClusterPolicy(p).compiled);
    const before = this.unsupported.get(p.name) ?? [];
    if (warnings.length === 0) this.unsupported.delete(p.name);
    else this.unsupported.set(p.name, warnings);
    if (JSON.stringify(before) === JSON.stringify(warnings)) return;
    for (const w of warnings) this.log.warn(w, { resource: 'clusternetworkpolicies', policy: p.name });
  }

  private reflector<T>(
    client: ResourceClient,
    spec: ResourceSpec<T>,
    sink: { upsert(obj: T): void; delete(key: string): void },
    served?: (served: boolean) => void,
  ): Reflector<unknown> {
    const runner = this.runner!;
    const handler: ReflectorHandler<T> = {
      upsert: (obj, receivedAt) => {
        sink.upsert(obj);
        runner.notify(receivedAt);
      },
      delete: (key, _last, receivedAt) => {
        sink.delete(key);
        runner.notify(receivedAt);
      },
      synced: () => {
        if (this.allSynced()) {
          this.log.info('all caches synced; programming starts');
          runner.markSynced();
        }
      },
      ...(served ? { served } : {}),
    };
    const observer: ReflectorObserver = {
      event: (resource, type) => this.metrics.eventsReceived.inc({ resource, type }),
      restart: (resource, reason) => this.metrics.watchRestarts.inc({ resource, reason }),
      size: (resource, n) => this.metrics.cachedObjects.set({ resource }, n),
    };
    return new Reflector<T>({
      client,
      project: spec.project,
      keyOf: spec.keyOf,
      handler,
      clock: this.clock,
      log: this.log.child({ component: 'reflector' }),
      observer,
      backoff: this.deps.reflectorBackoff,
      optional: spec.optional === true,
      absentPoll: this.deps.absentPoll,
    }) as Reflector<unknown>;
  }

  private allSynced(): boolean {
    return this.reflectors.length > 0 && this.reflectors.every((r) => r.hasSynced());
  }

  private armResync(): void {
    this.resyncTimer = this.clock.setTimer(this.config.resyncIntervalMs, () => {
      this.runner?.requestRepair();
      this.armResync();
    });
  }

  private healthProblems(): string[] {
    const problems: string[] = [];
    if (this.runner && !this.runner.healthy())
      problems.push('sync runner wedged: an apply is stuck or overdue');
    for (const r of this.reflectors) {
      if (r.state() === 'failed') problems.push(`watch of ${r.resource} stopped on an internal error`);
    }
    return problems;
  }

  /** The /v1/status document of the debug endpoint. */
  status(): Record<string, unknown> {
    const state = this.compilation.view().state();
    const runner = this.runner?.status();
    return {
      nodeName: this.config.nodeName,
      syncMode: this.config.syncMode,
      backend: this.dataplane?.backend ?? this.config.backend,
      iptablesBackend: this.backend,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      synced: this.allSynced(),
      ready: runner?.ready ?? false,
      healthy: this.healthProblems().length === 0,
      watches: this.reflectors.map((r) => r.status()),
      compiled: {
        subjectPods: state.pods.size,
        policies: state.policies.size,
        clusterPolicies: state.clusterPolicies.size,
        peerSets: state.peerSets.size,
      },
      clusterNetworkPolicies: {
        crd: this.crd,
        note:
          this.crd === 'absent'
            ? 'the ClusterNetworkPolicy CRD is not installed: NetworkPolicy only; it is picked up once installed'
            : this.crd === 'unknown'
              ? 'not listed yet'
              : '',
        policies: [...this.compilation.view().clusterPolicies()].length,
        unsupported: [...this.unsupported.values()].flat(),
      },
      kernel: this.dataplane?.counts() ?? null,
      driftWatch: this.dataplane?.driftWatch() ?? null,
      runner: runner ?? null,
      verdictLog: this.verdicts
        ? { mode: this.config.verdictLog, ...this.verdicts.status() }
        : { mode: 'off' },
      openConnections: {
        policy: this.config.keepEstablished ? 'keep' : 'cut',
        entriesCut: this.cutTotal,
        lastCut: this.lastCut ?? null,
      },
    };
  }
}

/**
 * Runs the agent until SIGTERM or SIGINT; resolves with the exit code. A second signal while
 * stopping exits at once. An uncaught error is logged and ends the process with status 1; the
 * rules stay in place and the restarted agent adopts them.
 */
export async function runAgent(config: Config): Promise<number> {
  const agent = new Agent(config);
  let signalled: (signal: NodeJS.Signals) => void = () => undefined;
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => (signalled = resolve));
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      agent.log.warn('second signal while stopping; exiting now', { signal });
      process.exit(1);
    }
    signalled(signal);
  };
  const onFatal = (err: unknown) => {
    agent.log.error('fatal: uncaught error; exiting (rules stay in place)', errorFields(err));
    process.exit(1);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onFatal);
  try {
    try {
      await agent.start();
    } catch (err) {
      agent.log.error('agent failed to start', errorFields(err));
      await agent.stop('start failed');
      return 1;
    }
    const signal = await stopSignal;
    await agent.stop(`received ${signal}`);
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('uncaughtException', onFatal);
    process.off('unhandledRejection', onFatal);
  }
}
