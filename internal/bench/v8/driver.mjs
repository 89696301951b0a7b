// A minimal Proxy-Wasm host in node (V8, the engine Envoy runs by default) that times one
// exchange of meshwaf.wasm, for the V8 figure of `go run mage.go bench`. It implements only the
// imports the module has (the 17 env functions; WASI comes from node:wasi) and only the stream
// callbacks one exchange needs; wasmhost/ is the real host. Usage:
//
//   node driver.mjs meshwaf.wasm case.json N
//
// case.json: {"plugin_config": "...", "request_headers": [[k,v],...], "request_body": "...",
// "response_headers": [[k,v],...], "response_body": "..."}. Prints one JSON line:
// {"ns_per_op", "ops", "load_ms", "memory_bytes", "blocked"}.
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

const [wasmPath, casePath, nArg] = process.argv.slice(2);
const tc = JSON.parse(readFileSync(casePath, 'utf8'));
const N = Number(nArg || 1000);
const enc = new TextEncoder();
const dec = new TextDecoder();

const OK = 0, NOT_FOUND = 1, BAD_ARGUMENT = 2;
let inst; // the instance, set after instantiation
const mem = () => new DataView(inst.exports.memory.buffer);
const bytesAt = (p, n) => new Uint8Array(inst.exports.memory.buffer, p, n);
const str = (p, n) => dec.decode(bytesAt(p, n));

// copyOut hands data to the guest through proxy_on_memory_allocate (which may grow memory).
function copyOut(data, retPtr, retSize) {
  let p = 0;
  if (data.length > 0) {
    p = inst.exports.proxy_on_memory_allocate(data.length);
    bytesAt(p, data.length).set(data);
  }
  const m = mem();
  m.setUint32(retPtr, p, true);
  m.setUint32(retSize, data.length, true);
  return OK;
}

// Proxy-Wasm's header map encoding: count, (key len, value len)*, then key\0value\0 pairs.
function encodeMap(pairs) {
  const kv = pairs.map(([k, v]) => [enc.encode(k), enc.encode(v)]);
  let size = 4 + kv.length * 8;
  for (const [k, v] of kv) size += k.length + v.length + 2;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, kv.length, true);
  let off = 4;
  for (const [k, v] of kv) { dv.setUint32(off, k.length, true); dv.setUint32(off + 4, v.length, true); off += 8; }
  for (const [k, v] of kv) { out.set(k, off); off += k.length + 1; out.set(v, off); off += v.length + 1; }
  return out;
}

function decodeMap(p, n) {
  const dv = new DataView(inst.exports.memory.buffer, p, n);
  const count = dv.getUint32(0, true);
  const pairs = [];
  let off = 4 + count * 8;
  for (let i = 0; i < count; i++) {
    const kl = dv.getUint32(4 + i * 8, true), vl = dv.getUint32(8 + i * 8, true);
    const k = str(p + off, kl); off += kl + 1;
    const v = str(p + off, vl); off += vl + 1;
    pairs.push([k, v]);
  }
  return pairs;
}

function int64(v) { const b = new Uint8Array(8); new DataView(b.buffer).setBigInt64(0, BigInt(v), true); return b; }
const properties = {
  'source.address': enc.encode('10.0.0.7:51234'), 'source.port': int64(51234),
  'destination.address': enc.encode('10.0.0.1:8080'), 'destination.port': int64(8080),
  'request.protocol': enc.encode('HTTP/1.1'), 'plugin_name': enc.encode('meshwaf'),
  'plugin_root_id': enc.encode(''),
};

// Per-stream state.
const maps = [[], [], [], []]; // request headers, request trailers, response headers, response trailers
const buffers = [new Uint8Array(0), new Uint8Array(0)]; // request body, response body
let reply = null;
const pluginConfig = enc.encode(tc.plugin_config);
const metrics = [];
const logs = [];

const env = {
  proxy_log(level, p, n) { if (level >= 3) logs.push(str(p, n)); return OK; },
  proxy_get_buffer_bytes(type, start, len, retPtr, retSize) {
    const b = type === 7 ? pluginConfig : type === 6 ? new Uint8Array(0) : buffers[type];
    if (!b) return NOT_FOUND;
    return copyOut(b.subarray(start, Math.min(b.length, start + len)), retPtr, retSize);
  },
  proxy_set_buffer_bytes() { return BAD_ARGUMENT; },
  proxy_get_header_map_pairs(type, retPtr, retSize) { return copyOut(encodeMap(maps[type]), retPtr, retSize); },
  proxy_set_header_map_pairs(type, p, n) { maps[type] = decodeMap(p, n); return OK; },
  proxy_get_header_map_size(type, retSize) { mem().setUint32(retSize, encodeMap(maps[type]).length, true); return OK; },
  proxy_get_header_map_value(type, kp, kn, retPtr, retSize) {
    const k = str(kp, kn);
    const vals = maps[type].filter(([n]) => n === k).map(([, v]) => v);
    if (vals.length === 0) return NOT_FOUND;
    return copyOut(enc.encode(vals.join(',')), retPtr, retSize);
  },
  proxy_add_header_map_value(type, kp, kn, vp, vn) { maps[type].push([str(kp, kn), str(vp, vn)]); return OK; },
  proxy_replace_header_map_value(type, kp, kn, vp, vn) {
    const k = str(kp, kn);
    maps[type] = maps[type].filter(([n]) => n !== k);
    maps[type].push([k, str(vp, vn)]);
    return OK;
  },
  proxy_remove_header_map_value(type, kp, kn) { const k = str(kp, kn); maps[type] = maps[type].filter(([n]) => n !== k); return OK; },
  proxy_get_property(pp, pn, retPtr, retSize) {
    const v = properties[str(pp, pn).replace(/\0$/, '').split('\0').join('.')];
    return v === undefined ? NOT_FOUND : copyOut(v, retPtr, retSize);
  },
  proxy_send_local_response(status) { reply = status; return OK; },
  proxy_close_stream() { reply = reply ?? 0; return OK; },
  proxy_define_metric(type, np, nn, retId) { metrics.push(0n); mem().setUint32(retId, metrics.length - 1, true); return OK; },
  proxy_increment_metric(id, by) { metrics[id] += by; return OK; },
  proxy_record_metric(id, v) { metrics[id] = v; return OK; },
  proxy_get_metric(id, retPtr) { mem().setBigUint64(retPtr, BigInt.asUintN(64, metrics[id]), true); return OK; },
};

const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: false });
const module = new WebAssembly.Module(readFileSync(wasmPath));
const t0 = process.hrtime.bigint();
inst = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi.wasiImport, env });
wasi.initialize(inst); // calls _initialize, as proxy-wasm-cpp-host does
const x = inst.exports;
x.proxy_on_context_create(1, 0);
if (!x.proxy_on_vm_start(1, 0)) throw new Error('proxy_on_vm_start failed: ' + logs.join('\n'));
if (!x.proxy_on_configure(1, pluginConfig.length)) throw new Error('proxy_on_configure failed: ' + logs.join('\n'));
const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

const reqBody = enc.encode(tc.request_body || '');
const respBody = enc.encode(tc.response_body || '');
let nextID = 2;
// exchange mirrors bench.Wasm: headers, body in one chunk, response, end of stream. Action 0
// is Continue; a pause with a pending reply ends the exchange.
function exchange() {
  const id = nextID++;
  reply = null;
  maps[0] = tc.request_headers.slice(); maps[2] = tc.response_headers.slice();
  buffers[0] = reqBody; buffers[1] = respBody;
  x.proxy_on_context_create(id, 1);
  x.proxy_on_request_headers(id, maps[0].length, reqBody.length === 0 ? 1 : 0);
  if (reply === null && reqBody.length > 0) x.proxy_on_request_body(id, reqBody.length, 1);
  if (reply === null) {
    x.proxy_on_response_headers(id, maps[2].length, respBody.length === 0 ? 1 : 0);
    if (reply === null && respBody.length > 0) x.proxy_on_response_body(id, respBody.length, 1);
  }
  x.proxy_on_done(id);
  x.proxy_on_log(id);
  x.proxy_on_delete(id);
  return reply !== null;
}

const blocked = exchange();
for (let i = 0; i < Math.min(200, N); i++) exchange(); // warm-up: V8's tiers, Go's heap
const t1 = process.hrtime.bigint();
for (let i = 0; i < N; i++) exchange();
const ns = Number(process.hrtime.bigint() - t1) / N;
console.log(JSON.stringify({ ns_per_op: ns, ops: N, load_ms: loadMs, memory_bytes: x.memory.buffer.byteLength, blocked }));
