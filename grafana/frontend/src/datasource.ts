import {
  DataSourceInstanceSettings,
  MetricFindValue,
  ScopedVars,
  CoreApp,
} from '@grafana/data';
import { DataSourceWithBackend, getTemplateSrv, TemplateSrv } from '@grafana/runtime';

import {
  AlarmInfo,
  ArchivePolicyInfo,
  defaultQuery,
  ResourceTypeInfo,
  VigilOptions,
  VigilQuery,
  VigilVariableQuery,
} from './types';

/**
 * formatFilterValue renders a template variable's value for a Gnocchi
 * string filter: a multi-value variable as a list (`['a', 'b']`, for
 * `project_id in $project`), a single value as it is.
 */
export function formatFilterValue(value: string | string[]): string {
  if (Array.isArray(value)) {
    return '[' + value.map((v) => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(', ') + ']';
  }
  return value;
}

/** The query fields whose template variables the frontend interpolates. */
const textFields = ['metricId', 'resourceType', 'filter', 'metricName', 'operations', 'legend', 'granularity', 'alarmId'] as const;

export class DataSource extends DataSourceWithBackend<VigilQuery, VigilOptions> {
  // Alarm history answers annotation queries through QueryData.
  annotations = {};

  constructor(
    instanceSettings: DataSourceInstanceSettings<VigilOptions>,
    private readonly templateSrv: TemplateSrv = getTemplateSrv()
  ) {
    super(instanceSettings);
  }

  getDefaultQuery(_app: CoreApp): Partial<VigilQuery> {
    return defaultQuery;
  }

  /** A query is sent once it names what it reads. */
  filterQuery(q: VigilQuery): boolean {
    if (q.hide) {
      return false;
    }
    switch (q.queryType ?? 'resources') {
      case 'metric':
        return !!q.metricId;
      case 'resources':
        return !!q.resourceType && !!q.metricName;
      case 'aggregates':
        return !!q.operations;
      default:
        return true;
    }
  }

  applyTemplateVariables(query: VigilQuery, scopedVars: ScopedVars): VigilQuery {
    const out: VigilQuery = { ...query };
    for (const f of textFields) {
      const v = query[f];
      if (typeof v === 'string' && v !== '') {
        // The legend keeps {{attribute}}; only $variables are replaced.
        out[f] = this.templateSrv.replace(v, scopedVars, f === 'filter' ? formatFilterValue : undefined);
      }
    }
    if (query.groupBy) {
      out.groupBy = query.groupBy
        .flatMap((g) => this.templateSrv.replace(g, scopedVars, 'csv').split(','))
        .map((g) => g.trim())
        .filter((g) => g !== '');
    }
    return out;
  }

  async metricFindQuery(query: VigilVariableQuery | string, options?: { scopedVars?: ScopedVars }): Promise<MetricFindValue[]> {
    const raw = typeof query === 'string' ? query : query?.query ?? '';
    if (raw.trim() === '') {
      return [];
    }
    const interpolated = this.templateSrv.replace(raw, options?.scopedVars, formatFilterValue);
    const values = await this.postResource<Array<{ text: string; value: string }>>('variable', { query: interpolated });
    return values.map((v) => ({ text: v.text, value: v.value }));
  }

  resourceTypes(): Promise<ResourceTypeInfo[]> {
    return this.getResource('resource-types');
  }

  metricNames(type: string, filter?: string): Promise<string[]> {
    return this.getResource('metric-names', { type, filter: filter ?? '' });
  }

  archivePolicies(): Promise<ArchivePolicyInfo[]> {
    return this.getResource('archive-policies');
  }

  alarms(): Promise<AlarmInfo[]> {
    return this.getResource('alarms');
  }
}
