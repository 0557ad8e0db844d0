import type { MemoryLane } from './model';
import type { WriteInput } from './write-plan';

/**
 * Sessions and their events as graph objects (contract §2.6, §2.7, §7): a session is a topic node,
 * an event an event node linked to it by part_of. Both routes become ordinary writes. Pure.
 */
export const sessionClientId = (sessionId: string): string => `session:${encodeURIComponent(sessionId)}`;
export const eventClientId = (sessionId: string, eventId: string): string => `session_event:${encodeURIComponent(sessionId)}:${encodeURIComponent(eventId)}`;

interface Ownership {
  readonly memory_lane?: MemoryLane | undefined;
  readonly producer_agent_id?: string | undefined;
  readonly owner_agent_id?: string | undefined;
  readonly owner_team_id?: string | undefined;
}

export interface SessionRequest extends Ownership {
  readonly session_id: string;
  readonly title?: string | undefined;
  readonly text_summary?: string | undefined;
  readonly input_text?: string | undefined;
  readonly metadata?: Readonly<Record<string, unknown>> | undefined;
  readonly auto_embed?: boolean | undefined;
  readonly actor?: string | undefined;
}

const ownership = (r: Ownership) => ({
  ...(r.memory_lane !== undefined ? { memory_lane: r.memory_lane } : {}),
  ...(r.producer_agent_id !== undefined ? { producer_agent_id: r.producer_agent_id } : {}),
  ...(r.owner_agent_id !== undefined ? { owner_agent_id: r.owner_agent_id } : {}),
  ...(r.owner_team_id !== undefined ? { owner_team_id: r.owner_team_id } : {}),
});

/** The session's topic node. Metadata is merged into the slots, but never over the system keys (the contract's fix). */
function sessionNode(sessionId: string, title: string, summary: string, metadata: Readonly<Record<string, unknown>> | undefined) {
  return { client_id: sessionClientId(sessionId), type: 'topic' as const, title, text_summary: summary, slots: { ...metadata, system_kind: 'session', session_id: sessionId } };
}

/** `POST /v1/memory/sessions` as a write. `sessionId` is already trimmed. Never embeds unless asked; never clusters. */
export function sessionWrite(sessionId: string, r: SessionRequest): WriteInput {
  const title = r.title ?? `Session ${sessionId}`;
  return {
    actor: r.actor ?? 'session_api',
    input_text: r.input_text ?? `create session ${sessionId}`,
    auto_embed: r.auto_embed ?? false,
    ...ownership(r),
    nodes: [sessionNode(sessionId, title, r.text_summary ?? title, r.metadata)],
    edges: [],
  };
}

export interface EventRequest extends Ownership {
  readonly session_id: string;
  readonly event_id?: string | undefined;
  readonly title?: string | undefined;
  readonly text_summary?: string | undefined;
  readonly input_text?: string | undefined;
  readonly metadata?: Readonly<Record<string, unknown>> | undefined;
  readonly auto_embed?: boolean | undefined;
  readonly edge_weight?: number | undefined;
  readonly edge_confidence?: number | undefined;
  readonly actor?: string | undefined;
}

/**
 * `POST /v1/memory/events` as a write: [session topic, event] and the event's part_of edge. The
 * session node is written as if created implicitly ("Session <id>"); an existing one is unchanged
 * (first write wins), but its embedding is still queued when not ready, from "Session <id>".
 */
export function eventWrite(sessionId: string, eventId: string, r: EventRequest): WriteInput {
  const summary = r.text_summary ?? r.input_text ?? r.title ?? `session event ${eventId}`;
  const sessionCid = sessionClientId(sessionId);
  const eventCid = eventClientId(sessionId, eventId);
  return {
    actor: r.actor ?? 'event_api',
    input_text: r.input_text ?? summary,
    auto_embed: r.auto_embed ?? true,
    ...ownership(r),
    nodes: [
      sessionNode(sessionId, `Session ${sessionId}`, `Session ${sessionId}`, undefined),
      {
        client_id: eventCid,
        type: 'event',
        ...(r.title !== undefined ? { title: r.title } : {}),
        text_summary: summary,
        slots: { ...r.metadata, system_kind: 'session_event', session_id: sessionId, event_id: eventId },
      },
    ],
    edges: [{ type: 'part_of', src: { client_id: eventCid }, dst: { client_id: sessionCid }, weight: r.edge_weight ?? 1, confidence: r.edge_confidence ?? 1 }],
  };
}
