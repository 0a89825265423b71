// What the worker threads need of this package (the chunk worker: framing/src/ext/chunk-worker.ts),
// as a module of its own: each thread loads its imports anew, and the whole package (every libc
// declaration, sockets, private directories...) cost each decoding thread about 25 ms of CPU more
// to start, on a restore's critical path.
export { view } from './libc.js'
export { populateRange } from './mem.js'
export { sha256Into } from './libcrypto.js'
