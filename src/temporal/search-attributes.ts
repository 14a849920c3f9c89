import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes the workflows upsert, so runs and tasks can be found in Temporal UI
 * (`SdlcFeature = "001-login"`, `SdlcTaskStatus = "failed"`). The dev server registers them at start
 * (see dev-server.ts); a production namespace needs `temporal operator search-attribute create`
 * (README, "Temporal UI").
 */
export const SA_FEATURE = defineSearchAttributeKey('SdlcFeature', SearchAttributeType.KEYWORD);
export const SA_REPOSITORY = defineSearchAttributeKey('SdlcRepository', SearchAttributeType.KEYWORD);
export const SA_RUN_STATUS = defineSearchAttributeKey('SdlcRunStatus', SearchAttributeType.KEYWORD);
export const SA_TASK_ID = defineSearchAttributeKey('SdlcTaskId', SearchAttributeType.KEYWORD);
export const SA_BRANCH = defineSearchAttributeKey('SdlcBranch', SearchAttributeType.KEYWORD);
export const SA_TASK_STATUS = defineSearchAttributeKey('SdlcTaskStatus', SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTES = [SA_FEATURE, SA_REPOSITORY, SA_RUN_STATUS, SA_TASK_ID, SA_BRANCH, SA_TASK_STATUS];
