export * from './attributes.js';
export * from './client.js';
export * from './codec.js';
export * from './constants.js';
export * from './integrity.js';
export * from './ip-address.js';
export * from './saslprep.js';
export * from './server.js';
