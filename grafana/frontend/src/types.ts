import { DataQuery, DataSourceJsonData } from '@grafana/schema';

/** The query types the backend answers (grafana/plugin/query.go). */
export type QueryType = 'metric' | 'resources' | 'aggregates' | 'annotations' | 'alarms';

export const queryTypes: Array<{ label: string; value: QueryType; description: string }> = [
  { label: 'Resources', value: 'resources', description: 'One metric, by name, of each resource a search finds' },
  { label: 'Aggregates', value: 'aggregates', description: 'An aggregates operation, grouped by resource attributes' },
  { label: 'Metric', value: 'metric', description: 'The measures of one metric, by id' },
  { label: 'Alarm history', value: 'annotations', description: 'Alarm state changes, as annotations or a table' },
  { label: 'Alarms', value: 'alarms', description: 'Alarms and their current state, as a table' },
];

/** A panel query, as the backend decodes it (plugin.Query). */
export interface VigilQuery extends DataQuery {
  queryType?: QueryType;
  metricId?: string;
  resourceType?: string;
  filter?: string;
  metricName?: string;
  aggregation?: string;
  granularity?: string;
  operations?: string;
  groupBy?: string[];
  legend?: string;
  unit?: string;
  perSecond?: boolean;
  scale?: number;
  alarmId?: string;
  alarmState?: string;
  historyType?: string;
  limit?: number;
}

export const defaultQuery: Partial<VigilQuery> = {
  queryType: 'resources',
  resourceType: 'instance',
  aggregation: 'mean',
};

export type AuthMode = 'noauth' | 'basic' | 'keystone';

/** The non-secret settings (plugin.jsonData). */
export interface VigilOptions extends DataSourceJsonData {
  authMode?: AuthMode;
  userId?: string;
  projectId?: string;
  roles?: string;
  basicUser?: string;
  forwardToken?: boolean;
  /** Grafana forwards the user's OAuth token (for forwardToken). */
  oauthPassThru?: boolean;
  timeoutSeconds?: number;
  maxResponseMB?: number;
  maxSeries?: number;
}

/** The secrets, kept encrypted by Grafana and only seen by the backend. */
export interface VigilSecureJsonData {
  basicPassword?: string;
  token?: string;
}

/** A template variable query. */
export interface VigilVariableQuery {
  query: string;
}

export interface ResourceTypeInfo {
  name: string;
  attributes: string[];
}

export interface ArchivePolicyInfo {
  name: string;
  aggregation_methods: string[];
  granularities: number[];
}

export interface AlarmInfo {
  alarm_id: string;
  name: string;
  state: string;
  severity: string;
}
