import React from 'react';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';

import { DataSource } from './datasource';
import { parseGroupBy, QueryEditor } from './QueryEditor';
import { VigilQuery } from './types';

function fakeDatasource() {
  return {
    resourceTypes: jest.fn().mockResolvedValue([{ name: 'instance', attributes: ['display_name'] }, { name: 'host', attributes: [] }]),
    metricNames: jest.fn().mockResolvedValue(['cpu', 'memory.usage']),
    alarms: jest.fn().mockResolvedValue([{ alarm_id: 'a1', name: 'cpu-high', state: 'alarm', severity: 'critical' }]),
    archivePolicies: jest.fn().mockResolvedValue([]),
  } as unknown as DataSource;
}

async function renderEditor(query: VigilQuery, ds = fakeDatasource()) {
  const onChange = jest.fn();
  const onRunQuery = jest.fn();
  await act(async () => {
    render(<QueryEditor query={query} onChange={onChange} onRunQuery={onRunQuery} datasource={ds} />);
  });
  return { onChange, onRunQuery, ds };
}

describe('QueryEditor', () => {
  it('loads the resource types and the metric names of the chosen type', async () => {
    const { ds } = await renderEditor({ refId: 'A', queryType: 'resources', resourceType: 'instance', metricName: 'cpu' });
    await waitFor(() => expect(ds.metricNames).toHaveBeenCalledWith('instance'));
    expect(ds.resourceTypes).toHaveBeenCalled();
    expect(screen.getByText('cpu')).toBeInTheDocument();
    expect(screen.getByText('instance')).toBeInTheDocument();
  });

  it('commits the filter on blur and runs the query', async () => {
    const { onChange, onRunQuery } = await renderEditor({ refId: 'A', queryType: 'resources', resourceType: 'instance', metricName: 'cpu' });
    const filter = screen.getByLabelText('Filter');
    fireEvent.change(filter, { target: { value: "project_id='$project'" } });
    expect(onChange).not.toHaveBeenCalled();
    fireEvent.blur(filter);
    expect(onChange).toHaveBeenCalledWith(expect.objectContaining({ filter: "project_id='$project'", metricName: 'cpu' }));
    expect(onRunQuery).toHaveBeenCalledTimes(1);
  });

  it('does not commit an unchanged field', async () => {
    const { onChange } = await renderEditor({ refId: 'A', queryType: 'resources', legend: '{{display_name}}' });
    fireEvent.blur(screen.getByLabelText('Legend'));
    expect(onChange).not.toHaveBeenCalled();
  });

  it('switches the query type', async () => {
    const { onChange } = await renderEditor({ refId: 'A', queryType: 'resources' });
    fireEvent.click(screen.getByText('Aggregates'));
    expect(onChange).toHaveBeenCalledWith(expect.objectContaining({ queryType: 'aggregates' }));
  });

  it('edits operations and the group by list of an aggregates query', async () => {
    const { onChange } = await renderEditor({ refId: 'A', queryType: 'aggregates', resourceType: 'instance' });
    const ops = screen.getByLabelText('Operations');
    fireEvent.change(ops, { target: { value: '(aggregate mean (metric cpu mean))' } });
    fireEvent.blur(ops);
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ operations: '(aggregate mean (metric cpu mean))' }));
    const groupBy = screen.getByLabelText('Group by');
    fireEvent.change(groupBy, { target: { value: 'project_id, flavor_name,' } });
    fireEvent.blur(groupBy);
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ groupBy: ['project_id', 'flavor_name'] }));
  });

  it('writes per second and scale', async () => {
    const { onChange } = await renderEditor({ refId: 'A', queryType: 'resources', metricName: 'cpu' });
    fireEvent.click(screen.getByLabelText('Per second'));
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ perSecond: true }));
    const scale = screen.getByLabelText('Scale');
    fireEvent.change(scale, { target: { value: '1e-7' } });
    fireEvent.blur(scale);
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ scale: 1e-7 }));
  });

  it('shows the metric id field of a metric query', async () => {
    const { onChange } = await renderEditor({ refId: 'A', queryType: 'metric' });
    const id = screen.getByLabelText('Metric id');
    fireEvent.change(id, { target: { value: '5a301761-c8ef-4a6c-a7f5-4d64f4a2fd55' } });
    fireEvent.blur(id);
    expect(onChange).toHaveBeenCalledWith(expect.objectContaining({ metricId: '5a301761-c8ef-4a6c-a7f5-4d64f4a2fd55' }));
    expect(screen.queryByLabelText('Filter')).not.toBeInTheDocument();
  });

  it('lists alarms for alarm history', async () => {
    const { ds } = await renderEditor({ refId: 'A', queryType: 'annotations', alarmId: 'a1' });
    await waitFor(() => expect(ds.alarms).toHaveBeenCalled());
    expect(screen.getByText('cpu-high')).toBeInTheDocument();
  });

  it('shows why the editor could not load its lists', async () => {
    const ds = fakeDatasource();
    (ds.resourceTypes as jest.Mock).mockRejectedValue({ data: { message: 'vigil API GET /v1/resource_type: 401 Unauthorized' } });
    await renderEditor({ refId: 'A', queryType: 'resources' }, ds);
    expect(await screen.findByRole('alert')).toHaveTextContent('401 Unauthorized');
  });
});

describe('parseGroupBy', () => {
  it('splits, trims and drops empty names', () => {
    expect(parseGroupBy(' project_id ,, flavor_name ')).toEqual(['project_id', 'flavor_name']);
    expect(parseGroupBy('')).toEqual([]);
  });
});
