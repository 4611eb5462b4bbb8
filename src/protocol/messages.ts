// Generated protobuf classes, re-exported under short names. The generated
// module lives in src/protocol/generated and is rebuilt from proto/atlas.proto.
import './protobuf-runtime.js';
import { atlas } from './generated/atlas.js';

export { atlas };
export const Envelope = atlas.Envelope;
export type Envelope = atlas.Envelope;
export type IEnvelope = atlas.IEnvelope;
export const ErrorCode = atlas.ErrorCode;
export type ErrorCode = atlas.ErrorCode;
export const Role = atlas.Role;
export type Role = atlas.Role;
export const StreamDirection = atlas.StreamDirection;
export type StreamDirection = atlas.StreamDirection;
export const TicketClaims = atlas.TicketClaims;
export type TicketClaims = atlas.TicketClaims;
export const ClusterConfig = atlas.ClusterConfig;
export type ClusterConfig = atlas.ClusterConfig;
export type IClusterConfig = atlas.IClusterConfig;
export type IClusterMember = atlas.IClusterMember;
export type IAssignment = atlas.IAssignment;
export type IChoiceReason = atlas.IChoiceReason;
export type ISessionTicket = atlas.ISessionTicket;

/** Name of the body set in an envelope, as the generated `body` oneof field reports it. */
export type BodyName = NonNullable<Envelope['body']>;
