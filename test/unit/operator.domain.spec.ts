import {
  type CreateOperator,
  OPERATOR_ROLES,
  type OperatorCreated,
  activeOwnerIds,
  operatorDecider,
  type OperatorCommand,
  type OperatorRole,
  ownerRosterRecord,
  roleAllows,
} from '../../src/control-plane/operators/operator.domain';
import { deciderSpec, TEST_CONTEXT } from './support/decider-spec';

const given = deciderSpec(operatorDecider);

const create: CreateOperator = {
  type: 'CreateOperator',
  operator_id: 'op_alice',
  display_name: 'Alice',
  role: 'operator',
  token_hash: 'ab'.repeat(32),
  token_hint: 'aio_admin_…wxyz',
  bootstrap: false,
};
const created: OperatorCreated = {
  type: 'OperatorCreated',
  data: { operator_id: 'op_alice', display_name: 'Alice', role: 'operator', token_hash: 'ab'.repeat(32), token_hint: 'aio_admin_…wxyz', bootstrap: false },
};

describe('operator decider', () => {
  describe('CreateOperator', () => {
    it('creates an operator when none exists, without the command type in the data', () => {
      given([]).when(create).then([created]);
    });

    it('carries the bootstrap flag and role through', () => {
      given([])
        .when({ ...create, role: 'owner', bootstrap: true })
        .then([{ type: 'OperatorCreated', data: { ...created.data, role: 'owner', bootstrap: true } }]);
    });

    it('rejects creating the same operator twice with operator_already_exists', () => {
      const err = given([created]).when(create).thenThrows('operator_already_exists');
      expect(err.details).toMatchObject({ operator_id: 'op_alice' });
    });
  });

  describe('evolve', () => {
    it('starts with no operator', () => {
      expect(given([]).state).toStrictEqual({ exists: false });
    });

    it('builds an active operator from OperatorCreated and the event context', () => {
      expect(given([created]).state).toStrictEqual({
        exists: true,
        operator_id: 'op_alice',
        display_name: 'Alice',
        role: 'operator',
        status: 'active',
        token_hash: 'ab'.repeat(32),
        token_hint: 'aio_admin_…wxyz',
        previous_token_hash: null,
        previous_token_valid_until: null,
        bootstrap: false,
        disabled_at: null,
        created_at: TEST_CONTEXT.occurredAt,
        updated_at: TEST_CONTEXT.occurredAt,
        created_by: TEST_CONTEXT.actorId,
      });
    });
  });

  describe('update, rotate, disable', () => {
    const owner: OperatorCreated = { type: 'OperatorCreated', data: { ...created.data, operator_id: 'op_owner', role: 'owner' } };

    it('renames and changes a role in one command, one event each', () => {
      given([created])
        .when({ type: 'UpdateOperator', operator_id: 'op_alice', display_name: 'Alice B', role: 'auditor', active_owner_ids: ['op_owner'] })
        .then([
          { type: 'OperatorUpdated', data: { operator_id: 'op_alice', display_name: 'Alice B' } },
          { type: 'OperatorRoleChanged', data: { operator_id: 'op_alice', from: 'operator', to: 'auditor' } },
        ]);
    });

    it('writes nothing when nothing changes', () => {
      given([created]).when({ type: 'UpdateOperator', operator_id: 'op_alice', display_name: 'Alice', role: 'operator', active_owner_ids: ['op_owner'] }).then([]);
    });

    it('never demotes or disables the last active owner', () => {
      given([owner]).when({ type: 'UpdateOperator', operator_id: 'op_owner', role: 'operator', active_owner_ids: ['op_owner'] }).thenThrows('last_owner');
      given([owner]).when({ type: 'DisableOperator', operator_id: 'op_owner', reason: null, active_owner_ids: ['op_owner'] }).thenThrows('last_owner');
      given([owner])
        .when({ type: 'DisableOperator', operator_id: 'op_owner', reason: 'left', active_owner_ids: ['op_owner', 'op_other'] })
        .then([{ type: 'OperatorDisabled', data: { operator_id: 'op_owner', reason: 'left' } }]);
    });

    it('rotates the token keeping the previous one for the grace period only when asked', () => {
      const now = '2026-01-01T00:00:00.000Z';
      given([created])
        .when({ type: 'RotateOperatorToken', operator_id: 'op_alice', token_hash: 'cd'.repeat(32), token_hint: 'aio_admin_…abcd', grace_seconds: 60, now })
        .then([{ type: 'OperatorTokenRotated', data: { operator_id: 'op_alice', token_hash: 'cd'.repeat(32), token_hint: 'aio_admin_…abcd', previous_token_valid_until: '2026-01-01T00:01:00.000Z' } }]);
      const rotated = given([
        created,
        { type: 'OperatorTokenRotated', data: { operator_id: 'op_alice', token_hash: 'cd'.repeat(32), token_hint: 'h', previous_token_valid_until: '2026-01-01T00:01:00.000Z' } },
      ]).state;
      expect(rotated).toMatchObject({ token_hash: 'cd'.repeat(32), previous_token_hash: 'ab'.repeat(32), previous_token_valid_until: '2026-01-01T00:01:00.000Z' });
      const noGrace = given([created, { type: 'OperatorTokenRotated', data: { operator_id: 'op_alice', token_hash: 'cd'.repeat(32), token_hint: 'h', previous_token_valid_until: null } }]).state;
      expect(noGrace).toMatchObject({ previous_token_hash: null });
    });

    it('refuses changes to a disabled or unknown operator', () => {
      const disabled = { type: 'OperatorDisabled' as const, data: { operator_id: 'op_alice', reason: null } };
      given([created, disabled]).when({ type: 'UpdateOperator', operator_id: 'op_alice', display_name: 'x', active_owner_ids: ['op_owner', 'op_other'] }).thenThrows('operator_disabled');
      given([]).when({ type: 'DisableOperator', operator_id: 'op_alice', reason: null, active_owner_ids: ['op_owner', 'op_other'] }).thenThrows('operator_not_found');
    });
  });
});

describe('the owner roster (the last-active-owner rule under concurrency)', () => {
  const owner: OperatorCreated = { type: 'OperatorCreated', data: { ...created.data, operator_id: 'op_owner', role: 'owner' } };
  const both = ['op_other', 'op_owner'];
  const decided = (history: OperatorCreated[], command: OperatorCommand) => {
    const state = given(history).state;
    return ownerRosterRecord(command, state, operatorDecider.decide(command, state));
  };

  it('given two active owners, when one is disabled, then its seat is released naming the owner that remains', () => {
    expect(decided([owner], { type: 'DisableOperator', operator_id: 'op_owner', reason: 'left', active_owner_ids: both })).toStrictEqual([
      { type: 'OwnerSeatReleased', data: { operator_id: 'op_owner', change: 'disabled', remaining_owner_ids: ['op_other'] } },
    ]);
  });

  it('given two active owners, when one is demoted, then its seat is released as demoted', () => {
    expect(decided([owner], { type: 'UpdateOperator', operator_id: 'op_owner', role: 'auditor', active_owner_ids: both })).toStrictEqual([
      { type: 'OwnerSeatReleased', data: { operator_id: 'op_owner', change: 'demoted', remaining_owner_ids: ['op_other'] } },
    ]);
  });

  it('records nothing when no owner seat goes: a non-owner disabled, an owner renamed, an operator promoted', () => {
    expect(decided([created], { type: 'DisableOperator', operator_id: 'op_alice', reason: null, active_owner_ids: both })).toStrictEqual([]);
    expect(decided([owner], { type: 'UpdateOperator', operator_id: 'op_owner', display_name: 'Boss', active_owner_ids: both })).toStrictEqual([]);
    expect(decided([created], { type: 'UpdateOperator', operator_id: 'op_alice', role: 'owner', active_owner_ids: both })).toStrictEqual([]);
  });

  it('judges by the owners given, not by a count: an owner missing from the set leaves no one', () => {
    given([owner]).when({ type: 'DisableOperator', operator_id: 'op_owner', reason: null, active_owner_ids: ['op_owner'] }).thenThrows('last_owner');
    given([owner]).when({ type: 'DisableOperator', operator_id: 'op_owner', reason: null, active_owner_ids: [] }).thenThrows('last_owner');
  });

  it('folds the active owners from operator states', () => {
    const disabledOwner = given([{ ...owner, data: { ...owner.data, operator_id: 'op_gone' } }, { type: 'OperatorDisabled', data: { operator_id: 'op_gone', reason: null } }]).state;
    expect(activeOwnerIds([given([owner]).state, given([created]).state, disabledOwner, { exists: false }])).toStrictEqual(['op_owner']);
  });
});

describe('roleAllows', () => {
  const cases: [OperatorRole, 'read' | 'write', boolean][] = [
    ['owner', 'read', true],
    ['owner', 'write', true],
    ['operator', 'read', true],
    ['operator', 'write', true],
    ['auditor', 'read', true],
    ['auditor', 'write', false],
  ];

  it.each(cases)('%s may %s: %s', (role, access, allowed) => {
    expect(roleAllows(role, access)).toBe(allowed);
  });

  it('covers every declared role', () => {
    expect([...OPERATOR_ROLES].sort()).toStrictEqual([...new Set(cases.map(([r]) => r))].sort());
  });
});
