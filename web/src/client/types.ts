// Wire types of Boardroom protocol v1 (protocol/README.md is the normative spec). These are
// the JSON shapes exactly as they travel; nothing here depends on the DOM.

export type Uuid = string;
export type Time = string;
export type Ref = number | string;

export type Role = 'owner' | 'admin' | 'member' | 'worker' | 'customer';
export type PrincipalKind = 'user' | 'api_key' | 'share';

export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'unavailable'
  | 'too_large'
  | 'internal';

export interface Column {
  id: Uuid;
  name: string;
  position: string;
  is_done: boolean;
  /** `#rrggbb`; absent when not set. */
  color?: string | null;
}

export type Priority = 'low' | 'normal' | 'high' | 'urgent';
export const PRIORITIES: Priority[] = ['low', 'normal', 'high', 'urgent'];

export interface ColumnRef {
  id: Uuid;
  name: string;
  is_done: boolean;
}

export interface ChecklistItem {
  id: Uuid;
  title: string;
  done: boolean;
  position: string;
}

export interface Comment {
  id: Uuid;
  author_id: Uuid;
  body: string;
  mentions: Uuid[];
  created_at: Time;
}

export interface Card {
  id: Uuid;
  column_id: Uuid;
  position: string;
  title: string;
  description: string | null;
  assignees: Uuid[];
  customer_id: Uuid | null;
  labels: string[];
  due_at: Time | null;
  /** Absent when not set, and always for customers and share links. */
  priority?: Priority | null;
  estimate_minutes?: number | null;
  checklist: ChecklistItem[];
  comments: Comment[];
  version: number;
  archived: boolean;
}

export interface BoardSnapshot {
  id: Uuid;
  org_id: Uuid;
  name: string;
  columns: Column[];
  cards: Card[];
}

export interface CardSnapshot {
  card: Card;
  column: ColumnRef;
  board_id: Uuid;
}

export interface PrincipalInfo {
  kind: PrincipalKind;
  id: Uuid;
  org_id: Uuid;
  role: Role;
  name: string;
}

export interface PresenceState {
  focus?: Uuid | null;
  editing?: boolean;
  [extra: string]: unknown;
}

export interface PresenceEntry {
  name: string;
  state: PresenceState;
}

export type PresenceMap = Record<Uuid, PresenceEntry>;

export interface Actor {
  kind: PrincipalKind;
  id: Uuid;
  name: string;
}

export type NotificationKind = 'card.assigned' | 'mention' | 'job.status';

export interface Notification {
  id: Uuid;
  kind: NotificationKind;
  board_id: Uuid;
  card_id: Uuid;
  title: string;
  body: string;
  actor: Actor;
  created_at: Time;
  read: boolean;
}

export interface Since {
  epoch: number;
  seq: number;
}

// ---- server frames ------------------------------------------------------------------------

export interface WelcomeFrame {
  type: 'welcome';
  ref?: Ref;
  session_id: Uuid;
  principal: PrincipalInfo;
  heartbeat_ms: number;
  max_frame_bytes: number;
  server_time: Time;
}

export interface OkFrame {
  type: 'ok';
  ref?: Ref;
  topic?: string;
  epoch?: number;
  seq?: number;
  snapshot?: BoardSnapshot | CardSnapshot | Record<string, unknown>;
  presence?: PresenceMap;
  recovered?: boolean;
  id?: Uuid;
  unread?: number;
}

export interface ErrorFrame {
  type: 'error';
  ref?: Ref;
  code: ErrorCode;
  message: string;
  retry_after_ms?: number;
  field?: string;
}

export interface EventFrame {
  type: 'event';
  topic: string;
  epoch: number;
  seq: number;
  kind: EventKind;
  data: any;
  actor: Actor;
  op_id: Uuid;
  at: Time;
}

export interface PresenceFrame {
  type: 'presence';
  topic: string;
  joins: PresenceMap;
  leaves: PresenceMap;
}

export interface NotificationFrame {
  type: 'notification';
  notification: Notification;
  unread: number;
}

export interface ResyncFrame {
  type: 'resync';
  topic: string;
  reason?: string;
}

export interface PongFrame {
  type: 'pong';
  ref?: Ref;
}

export type ServerFrame =
  | WelcomeFrame
  | OkFrame
  | ErrorFrame
  | EventFrame
  | PresenceFrame
  | NotificationFrame
  | ResyncFrame
  | PongFrame;

export type EventKind =
  | 'column.created'
  | 'column.updated'
  | 'column.moved'
  | 'column.deleted'
  | 'card.created'
  | 'card.updated'
  | 'card.moved'
  | 'card.assigned'
  | 'card.archived'
  | 'checklist.added'
  | 'checklist.toggled'
  | 'checklist.removed'
  | 'comment.added'
  | 'card.visible'
  | 'card.hidden';

// ---- ops ----------------------------------------------------------------------------------

export interface OpData {
  'column.create': { name: string; after?: Uuid | null; is_done?: boolean; color?: string; column_id?: Uuid };
  'column.update': { column_id: Uuid; name?: string; is_done?: boolean; color?: string | null };
  'column.move': { column_id: Uuid; after: Uuid | null };
  'column.delete': { column_id: Uuid };
  'card.create': {
    column_id: Uuid;
    title: string;
    description?: string;
    after?: Uuid | null;
    assignees?: Uuid[];
    customer_id?: Uuid;
    labels?: string[];
    due_at?: Time;
    priority?: Priority;
    estimate_minutes?: number;
    card_id?: Uuid;
  };
  'card.update': {
    card_id: Uuid;
    title?: string;
    description?: string | null;
    labels?: string[];
    due_at?: Time | null;
    customer_id?: Uuid | null;
    priority?: Priority | null;
    estimate_minutes?: number | null;
    expected_version?: number;
  };
  'card.move': { card_id: Uuid; column_id: Uuid; after: Uuid | null };
  'card.assign': { card_id: Uuid; assignees: Uuid[] };
  'card.archive': { card_id: Uuid };
  'checklist.add': { card_id: Uuid; title: string; item_id?: Uuid };
  'checklist.toggle': { card_id: Uuid; item_id: Uuid; done: boolean };
  'checklist.remove': { card_id: Uuid; item_id: Uuid };
  'comment.add': { card_id: Uuid; body: string; mentions?: Uuid[] };
}

export type OpKind = keyof OpData;

export interface OpResult {
  seq: number;
  id?: Uuid;
}

// WebSocket close codes (protocol/README.md §10).
export const Close = {
  NOT_AUTHENTICATED: 4001,
  REVOKED: 4003,
  RATE_LIMITED: 4008,
  TOO_SLOW: 4009,
  PROTOCOL_VIOLATION: 4400,
  FRAME_TOO_LARGE: 4413,
  GOING_AWAY: 1001,
  INTERNAL: 1011,
} as const;

export const SUBPROTOCOL_JSON = 'boardroom.v1.json';
