import { DataSourceInstanceSettings, ScopedVars } from '@grafana/data';
import { TemplateSrv } from '@grafana/runtime';

import { DataSource, formatFilterValue } from './datasource';
import { VigilOptions, VigilQuery } from './types';

const settings = {
  id: 1,
  uid: 'vigil',
  name: 'vigil',
  type: 'vigil-metering-datasource',
  jsonData: {},
  meta: {},
  access: 'proxy',
  readOnly: false,
} as unknown as DataSourceInstanceSettings<VigilOptions>;

// A template service with $project (multi) and $flavor (single).
const vars: Record<string, string | string[]> = { project: ['p-a', "p'b"], flavor: 'm1.small', instance: 'vm-1' };
const templateSrv = {
  replace: (target?: string, _scoped?: ScopedVars, format?: string | ((v: string | string[]) => string)) =>
    (target ?? '').replace(/\$(\w+)/g, (m, name) => {
      const v = vars[name];
      if (v === undefined) {
        return m;
      }
      if (typeof format === 'function') {
        return format(v);
      }
      return Array.isArray(v) ? v.join(',') : v;
    }),
  getVariables: () => [],
  containsTemplate: () => false,
  updateTimeRange: () => {},
} as unknown as TemplateSrv;

describe('formatFilterValue', () => {
  it('renders a multi-value variable as a Gnocchi list, quotes escaped', () => {
    expect(formatFilterValue(['a', "b'c"])).toBe("['a', 'b\\'c']");
  });
  it('leaves a single value as it is', () => {
    expect(formatFilterValue('m1.small')).toBe('m1.small');
  });
});

describe('DataSource', () => {
  const ds = new DataSource(settings, templateSrv);

  it('interpolates filters with lists and keeps legend templates', () => {
    const q: VigilQuery = {
      refId: 'A',
      queryType: 'resources',
      resourceType: 'instance',
      metricName: 'cpu',
      filter: "project_id in $project and flavor_name='$flavor'",
      legend: '{{display_name}} $flavor',
      groupBy: ['project_id', '$nothing'],
    };
    const out = ds.applyTemplateVariables(q, {});
    expect(out.filter).toBe("project_id in ['p-a', 'p\\'b'] and flavor_name='m1.small'");
    expect(out.legend).toBe('{{display_name}} m1.small');
    expect(out.metricName).toBe('cpu');
    expect(q.filter).toContain('$project');
  });

  it('sends only queries that name what they read', () => {
    expect(ds.filterQuery({ refId: 'A', queryType: 'metric' })).toBe(false);
    expect(ds.filterQuery({ refId: 'A', queryType: 'metric', metricId: 'x' })).toBe(true);
    expect(ds.filterQuery({ refId: 'A', queryType: 'resources', resourceType: 'instance' })).toBe(false);
    expect(ds.filterQuery({ refId: 'A', queryType: 'aggregates', operations: '(metric cpu mean)' })).toBe(true);
    expect(ds.filterQuery({ refId: 'A', queryType: 'alarms', hide: true })).toBe(false);
  });

  it('answers variable queries through the variable resource, interpolated', async () => {
    const post = jest.fn().mockResolvedValue([{ text: 'web-1', value: 'vm-1' }]);
    ds.postResource = post as unknown as typeof ds.postResource;
    const values = await ds.metricFindQuery({ query: 'resources(instance, project_id in $project)' });
    expect(post).toHaveBeenCalledWith('variable', { query: "resources(instance, project_id in ['p-a', 'p\\'b'])" });
    expect(values).toEqual([{ text: 'web-1', value: 'vm-1' }]);
    expect(await ds.metricFindQuery('  ')).toEqual([]);
  });
});
