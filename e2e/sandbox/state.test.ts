import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfProcess } from './processes';
import { StateStore, type SandboxState } from './state';
import { smallPlan } from './testutil/plans';

function initial(id: string, over: Partial<SandboxState> = {}): SandboxState {
  return {
    version: 1,
    id,
    createdAt: '2026-01-01T00:00:00Z',
    topology: 'routed',
    plan: smallPlan(),
    agents: false,
    phase: 'building',
    kept: false,
    owner: selfProcess('test'),
    namespaces: [],
    processes: [],
    ...over,
  };
}

describe('StateStore', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'palisade-state-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  test('records before acting, reads back what was recorded, and refuses a taken id', () => {
    const store = StateStore.create(initial('ab12'), root);
    store.addNamespaces(['psab12-fabric', 'psab12-node-a']);
    store.addNamespaces(['psab12-node-a', 'psab12-pod-x.a']);
    store.addProcess({ pid: 42, startTicks: 7, role: 'endpoint' });
    const again = StateStore.open('ab12', root).state;
    expect(again.namespaces).toEqual(['psab12-fabric', 'psab12-node-a', 'psab12-pod-x.a']);
    expect(again.processes).toEqual([{ pid: 42, startTicks: 7, role: 'endpoint' }]);
    expect(() => StateStore.create(initial('ab12'), root)).toThrow();
    expect(store.socketPath('n1')).toBe(join(root, 'ab12', 'sock', 'n1.sock'));
  });

  test('lists sandboxes; unowned ones are kept or lost their builder', () => {
    StateStore.create(initial('aaaa'), root);
    StateStore.create(initial('bbbb', { kept: true }), root);
    StateStore.create(initial('cccc', { owner: { pid: 1, startTicks: -5, role: 'gone' } }), root);
    expect(StateStore.list(root)).toEqual(['aaaa', 'bbbb', 'cccc']);
    expect(StateStore.listUnowned(root)).toEqual(['bbbb', 'cccc']);
    StateStore.open('bbbb', root).remove();
    expect(StateStore.list(root)).toEqual(['aaaa', 'cccc']);
  });
});
