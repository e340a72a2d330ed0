import { applyJsonPatch, JsonPatchError } from './patch/json-patch';
import { applyMergePatch } from './patch/merge-patch';
import { PATCH_META_BY_KIND } from './patch/patch-meta';
import { applyPatchFor } from './patch/server-side-apply';
import { applyStrategicMergePatch, SmpError } from './patch/strategic-merge-patch';

const podMeta = PATCH_META_BY_KIND.Pod;

describe('JSON merge patch (RFC 7386)', () => {
  test('merges maps, deletes nulls, replaces lists and scalars', () => {
    expect(
      applyMergePatch(
        { a: { b: 1, c: 2 }, l: [1, 2], s: 'x' },
        { a: { c: null, d: { e: null, f: 1 } }, l: [3], s: 'y' },
      ),
    ).toEqual({
      a: { b: 1, d: { f: 1 } },
      l: [3],
      s: 'y',
    });
  });
});

describe('JSON patch (RFC 6902)', () => {
  const doc = { metadata: { labels: { 'a/b': 'x' } }, list: [1, 2, 3] };

  test('add, remove, replace, move, copy, test with escaped pointers and "-"', () => {
    expect(
      applyJsonPatch(doc, [
        { op: 'test', path: '/metadata/labels/a~1b', value: 'x' },
        { op: 'add', path: '/list/-', value: 4 },
        { op: 'add', path: '/list/0', value: 0 },
        { op: 'remove', path: '/list/1' },
        { op: 'replace', path: '/list/0', value: 9 },
        { op: 'copy', from: '/list/0', path: '/copied' },
        { op: 'move', from: '/metadata/labels/a~1b', path: '/moved' },
      ]),
    ).toEqual({ metadata: { labels: {} }, list: [9, 2, 3, 4], copied: 9, moved: 'x' });
  });

  test('a failing operation fails the whole patch and leaves the input alone', () => {
    expect(() =>
      applyJsonPatch(doc, [
        { op: 'add', path: '/x', value: 1 },
        { op: 'remove', path: '/nope' },
      ]),
    ).toThrow(JsonPatchError);
    expect(() => applyJsonPatch(doc, [{ op: 'test', path: '/list/0', value: 2 }])).toThrow(
      'test operation failed',
    );
    expect(() => applyJsonPatch(doc, [{ op: 'replace', path: '/list/3', value: 1 }])).toThrow(JsonPatchError);
    expect(doc).toEqual({ metadata: { labels: { 'a/b': 'x' } }, list: [1, 2, 3] });
  });
});

describe('strategic merge patch', () => {
  const live = {
    metadata: { labels: { a: '1', b: '2' }, finalizers: ['f1', 'f2'] },
    spec: {
      containers: [
        {
          name: 'a',
          image: 'i:1',
          env: [
            { name: 'X', value: '1' },
            { name: 'Y', value: '2' },
          ],
        },
        { name: 'b', image: 'i:1' },
      ],
      tolerations: [{ key: 't1' }, { key: 't2' }],
      volumes: [{ name: 'v', emptyDir: {} }],
    },
  };

  test('merges lists by their merge key, recursively, and replaces atomic lists', () => {
    const result = applyStrategicMergePatch(
      live,
      {
        metadata: { labels: { b: null, c: '3' } },
        spec: {
          containers: [
            { name: 'a', env: [{ name: 'Y', value: '3' }] },
            { name: 'c', image: 'i:2' },
          ],
          tolerations: [{ key: 't3' }],
        },
      },
      podMeta,
    ) as typeof live;
    expect(result.metadata.labels).toEqual({ a: '1', c: '3' });
    expect(result.spec.containers).toEqual([
      {
        name: 'a',
        image: 'i:1',
        env: [
          { name: 'X', value: '1' },
          { name: 'Y', value: '3' },
        ],
      },
      { name: 'b', image: 'i:1' },
      { name: 'c', image: 'i:2' },
    ]);
    expect(result.spec.tolerations).toEqual([{ key: 't3' }]);
  });

  test('directives: $patch delete/replace, $setElementOrder, $deleteFromPrimitiveList, $retainKeys', () => {
    const result = applyStrategicMergePatch(
      live,
      {
        metadata: { finalizers: ['f3'], '$deleteFromPrimitiveList/finalizers': ['f1'] },
        spec: {
          containers: [
            { name: 'b', $patch: 'delete' },
            { name: 'z', image: 'i:3' },
          ],
          '$setElementOrder/containers': [{ name: 'z' }, { name: 'a' }],
          volumes: [{ name: 'v', $retainKeys: ['name', 'hostPath'], hostPath: { path: '/x' } }],
        },
      },
      podMeta,
    ) as typeof live;
    expect(result.metadata.finalizers).toEqual(['f2', 'f3']);
    expect(result.spec.containers.map((c) => c.name)).toEqual(['z', 'a']);
    expect(result.spec.volumes).toEqual([{ name: 'v', hostPath: { path: '/x' } }]);

    const replaced = applyStrategicMergePatch(
      live,
      { spec: { containers: [{ $patch: 'replace' }, { name: 'only', image: 'i' }] } },
      podMeta,
    ) as typeof live;
    expect(replaced.spec.containers).toEqual([{ name: 'only', image: 'i' }]);
    const mapReplaced = applyStrategicMergePatch(
      live,
      { metadata: { labels: { $patch: 'replace', z: '9' } } },
      podMeta,
    ) as typeof live;
    expect(mapReplaced.metadata.labels).toEqual({ z: '9' });
  });

  test('malformed directives are rejected', () => {
    expect(() =>
      applyStrategicMergePatch(live, { spec: { containers: [{ image: 'no-name' }] } }, podMeta),
    ).toThrow(SmpError);
    expect(() => applyStrategicMergePatch(live, { spec: { $patch: 'explode' } }, podMeta)).toThrow(SmpError);
    expect(() => applyStrategicMergePatch(live, [], podMeta)).toThrow(SmpError);
  });
});

describe('server-side apply patch', () => {
  test('removes what the manager applied before and no longer does, keeps what others set', () => {
    const previous = {
      metadata: { labels: { a: '1', gone: 'x' } },
      spec: {
        containers: [
          { name: 'a', image: 'i' },
          { name: 'old', image: 'i' },
        ],
      },
    };
    const next = { metadata: { labels: { a: '2' } }, spec: { containers: [{ name: 'a', image: 'i' }] } };
    const patch = applyPatchFor(previous, next, podMeta);
    const live = {
      metadata: { labels: { a: '1', gone: 'x', other: 'kept' } },
      spec: {
        containers: [
          { name: 'a', image: 'i', tty: true },
          { name: 'old', image: 'i' },
        ],
      },
    };
    expect(applyStrategicMergePatch(live, patch, podMeta)).toEqual({
      metadata: { labels: { a: '2', other: 'kept' } },
      spec: { containers: [{ name: 'a', image: 'i', tty: true }] },
    });
  });
});
