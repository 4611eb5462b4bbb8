// Makes protobufjs decode 64-bit integer fields (versions, terms, times in ms)
// as JavaScript numbers. With the `long` package installed, protobufjs 8
// returns Long objects from decode() and uses Long defaults, even for code
// generated with --force-number. This module must be evaluated before the
// generated module, because the generated prototypes pick their 64-bit
// defaults when they load. Values above 2^53 lose precision, far beyond any
// version, term or timestamp this project stores.
import protobuf from 'protobufjs/minimal.js';

protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();
