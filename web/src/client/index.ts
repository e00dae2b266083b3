// The Boardroom JavaScript SDK: the protocol client, board state, HTTP API. No DOM needed;
// usable from bots in Node (pass a WebSocket implementation on Node < 22).
export * from './types';
export * from './errors';
export * from './util';
export * from './connection';
export * from './board';
export * from './http';
