/** A transfer's own stream: requested once, then ended once (completed, rejected or compensated). */
import { defineDecider, DomainError } from '../../src/index.js';
import type { TransferEvent } from './events.js';

export type TransferStreamStatus = 'none' | 'pending' | 'completed' | 'rejected' | 'compensated';

export type TransferCommand =
  | { type: 'TransferMoney'; data: { transferId: string; fromAccountId: string; toAccountId: string; amount: number } }
  | { type: 'CompleteTransfer'; data: { transferId: string } }
  | { type: 'RejectTransfer'; data: { transferId: string; reason: string } }
  | { type: 'CompensateTransfer'; data: { transferId: string; reason: string } };

export const transferDecider = defineDecider<TransferCommand, TransferEvent, { status: TransferStreamStatus }>({
  initialState: { status: 'none' },
  decide(command, state) {
    if (command.type === 'TransferMoney') {
      if (state.status !== 'none')
        throw new DomainError(`transfer ${command.data.transferId} exists already; use a new transferId`, 'transfer_exists');
      return { type: 'TransferRequested', data: command.data };
    }
    if (state.status !== 'pending')
      throw new DomainError(`transfer ${command.data.transferId} is ${state.status}, not pending`, 'transfer_not_pending');
    switch (command.type) {
      case 'CompleteTransfer':
        return { type: 'TransferCompleted', data: command.data };
      case 'RejectTransfer':
        return { type: 'TransferRejected', data: command.data };
      case 'CompensateTransfer':
        return { type: 'TransferCompensated', data: command.data };
    }
  },
  evolve(_state, event) {
    switch (event.type) {
      case 'TransferRequested':
        return { status: 'pending' };
      case 'TransferCompleted':
        return { status: 'completed' };
      case 'TransferRejected':
        return { status: 'rejected' };
      case 'TransferCompensated':
        return { status: 'compensated' };
    }
  },
});
