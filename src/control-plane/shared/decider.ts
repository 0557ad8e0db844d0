/** A domain event as the domain sees it: a stable past-tense type, its data, and when it happened. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
}

/** The envelope facts evolve may read (deterministic: they are stored with the event). */
export interface EventContext {
  readonly occurredAt: string;
  readonly actorId: string;
}

/** decide(command, state) -> events; evolve(state, event) -> state. Both pure. */
export interface Decider<Command, Event extends DomainEvent, State> {
  readonly initialState: State;
  decide(command: Command, state: State): readonly Event[];
  evolve(state: State, event: Event, context: EventContext): State;
}
