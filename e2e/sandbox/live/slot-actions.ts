/**
 * What a node's pod slots (pod-slots.ts) do to the machine: `ip` scripts, batched across pods
 * (ip-batcher.ts) for the host's namespace list and the node's namespace, one `ip -batch` in a
 * slot's own namespace, and the node's pod endpoint host (pod-endpoints.py) for sysctls inside
 * namespaces and for naming a slot's namespace as its pod.
 */
import type { ControlClient } from '../control-client';
import { ipBatch } from '../netns';
import { tool } from '../tools';
import { IpBatcher } from './ip-batcher';
import type { SlotActions } from './pod-slots';

export function slotActions(nodeNs: string, podHost: ControlClient): SlotActions {
  const ip = tool('ip');
  const hostIp = new IpBatcher([ip], 'netns');
  const nodeIp = new IpBatcher([ip, '-n', nodeNs], `in ${nodeNs}`);
  return {
    host: (lines) => hostIp.submit(lines),
    node: (lines) => nodeIp.submit(lines),
    inSlot: (netns, lines) => ipBatch(netns, lines),
    sysctl: async (netns, settings) => {
      await podHost.send({ op: 'sysctl', netns, settings });
    },
    alias: async (netns, alias) => {
      await podHost.send({ op: 'alias', netns, as: alias });
    },
    unalias: async (alias) => {
      await podHost.send({ op: 'unalias', name: alias });
    },
  };
}
