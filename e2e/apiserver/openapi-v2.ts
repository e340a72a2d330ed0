/**
 * A minimal OpenAPI v2 document: swagger "2.0", info, and no paths or definitions. kubectl <= 1.28
 * (and newer ones when /openapi/v3 fails) fetch it, as gnostic protobuf only, before apply/create to
 * decide on validation; with no definitions it validates nothing client-side and computes apply patches
 * from its compiled-in types. Served as JSON to clients that ask for JSON.
 */
const PROTOBUF_MEDIA_TYPE = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

function varint(n: number): number[] {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return bytes;
}

/** A length-delimited protobuf field (wire type 2): strings and embedded messages. */
function field(number: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([...varint((number << 3) | 2), ...varint(payload.length)]), payload]);
}

/** gnostic openapi_v2.Document{swagger: 1, info: 2 {title: 1, version: 2}, paths: 8}. */
function protobufDocument(gitVersion: string): Buffer {
  const info = Buffer.concat([field(1, Buffer.from('Kubernetes')), field(2, Buffer.from(gitVersion))]);
  return Buffer.concat([field(1, Buffer.from('2.0')), field(2, info), field(8, Buffer.alloc(0))]);
}

export function openApiV2(
  accept: string | undefined,
  gitVersion: string,
): { contentType: string; body: Buffer } {
  if ((accept ?? '').includes(PROTOBUF_MEDIA_TYPE)) {
    // kube-openapi answers protobuf as octet-stream: Go's mime parser rejects the '@' of the Accept type.
    return { contentType: 'application/octet-stream', body: protobufDocument(gitVersion) };
  }
  const json = {
    swagger: '2.0',
    info: { title: 'Kubernetes', version: gitVersion },
    paths: {},
    definitions: {},
  };
  return { contentType: 'application/json', body: Buffer.from(JSON.stringify(json)) };
}
