export { Wrapper } from './wrapper.js';
export { ActionRepeat } from './action-repeat.js';
export { FrameStack, FrameStacker } from './frame-stack.js';
export { TimeLimit } from './time-limit.js';
export { EpisodeStatistics, type EpisodeSummary } from './episode-statistics.js';
export { RescaleAction, toAgentActionRange } from './rescale-action.js';
