import {
  type CreateOperator,
  OPERATOR_ROLES,
  type OperatorCreated,
  operatorDecider,
  type OperatorRole,
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

    it('rejects creating the same operator twice with concurrency_conflict', () => {
      const err = given([created]).when(create).thenThrows('concurrency_conflict');
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
        created_at: TEST_CONTEXT.occurredAt,
        updated_at: TEST_CONTEXT.occurredAt,
        created_by: TEST_CONTEXT.actorId,
      });
    });
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
