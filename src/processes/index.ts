/** Process managers (sagas). See docs/processes.md. */
export {
  defineProcess,
  type ProcessCommand,
  type ProcessContext,
  type ProcessDefinition,
  type ProcessMessage,
  type ProcessOptions,
  type ProcessReaction,
  type SentCommand,
  type SentCommandResult,
} from './define.js';
export { createProcesses, Processes, type ProcessesOptions, type ProcessInstance, type ProcessStatus } from './processes.js';
