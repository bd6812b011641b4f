import React, { useEffect, useState } from 'react';
import { QueryEditorProps, SelectableValue } from '@grafana/data';
import { InlineField, InlineFieldRow, InlineSwitch, Input, RadioButtonGroup, Select } from '@grafana/ui';

import { DataSource } from './datasource';
import { AlarmInfo, QueryType, queryTypes, VigilOptions, VigilQuery } from './types';

type Props = QueryEditorProps<DataSource, VigilQuery, VigilOptions>;

export const aggregationMethods = ['mean', 'min', 'max', 'sum', 'count', 'last', 'first', 'std', 'median', 'rate:mean', 'rate:max', 'rate:last'];

const historyTypes: Array<SelectableValue<string>> = [
  { label: 'State transitions', value: 'state transition' },
  { label: 'All changes', value: 'all' },
  { label: 'Rule changes', value: 'rule change' },
  { label: 'Actions', value: 'action' },
];

const alarmStates: Array<SelectableValue<string>> = [
  { label: 'Any state', value: '' },
  { label: 'alarm', value: 'alarm' },
  { label: 'ok', value: 'ok' },
  { label: 'insufficient data', value: 'insufficient data' },
];

const toOptions = (xs: string[]): Array<SelectableValue<string>> => xs.map((x) => ({ label: x, value: x }));

/** parseGroupBy reads the comma-separated attributes of the group by field. */
export function parseGroupBy(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

/** A text input that commits on blur (and then runs the query). */
function TextField(props: {
  label: string;
  value?: string;
  placeholder?: string;
  tooltip?: string;
  width?: number;
  onCommit: (v: string) => void;
}) {
  const [value, setValue] = useState(props.value ?? '');
  useEffect(() => setValue(props.value ?? ''), [props.value]);
  return (
    <InlineField label={props.label} labelWidth={14} tooltip={props.tooltip} grow={!props.width}>
      <Input
        aria-label={props.label}
        width={props.width}
        value={value}
        placeholder={props.placeholder}
        onChange={(e) => setValue(e.currentTarget.value)}
        onBlur={() => {
          if (value !== (props.value ?? '')) {
            props.onCommit(value);
          }
        }}
      />
    </InlineField>
  );
}

export function QueryEditor({ query, onChange, onRunQuery, datasource }: Props) {
  const queryType: QueryType = query.queryType ?? 'resources';
  const [types, setTypes] = useState<string[]>([]);
  const [metricNames, setMetricNames] = useState<string[]>([]);
  const [alarms, setAlarms] = useState<AlarmInfo[]>([]);
  const [loadError, setLoadError] = useState<string>('');

  const update = (patch: Partial<VigilQuery>) => {
    onChange({ ...query, ...patch });
    onRunQuery();
  };

  useEffect(() => {
    if (queryType !== 'resources' && queryType !== 'aggregates') {
      return;
    }
    datasource
      .resourceTypes()
      .then((ts) => setTypes(ts.map((t) => t.name)))
      .catch((e) => setLoadError(String(e?.data?.message ?? e?.message ?? e)));
  }, [datasource, queryType]);

  useEffect(() => {
    if (queryType !== 'resources' || !query.resourceType) {
      return;
    }
    datasource
      .metricNames(query.resourceType)
      .then(setMetricNames)
      .catch((e) => setLoadError(String(e?.data?.message ?? e?.message ?? e)));
  }, [datasource, queryType, query.resourceType]);

  useEffect(() => {
    if (queryType !== 'annotations') {
      return;
    }
    datasource
      .alarms()
      .then(setAlarms)
      .catch((e) => setLoadError(String(e?.data?.message ?? e?.message ?? e)));
  }, [datasource, queryType]);

  const withCurrent = (opts: Array<SelectableValue<string>>, v?: string) =>
    v && !opts.some((o) => o.value === v) ? [...opts, { label: v, value: v }] : opts;

  const resourceType = (
    <InlineField label="Resource type" labelWidth={14}>
      <Select
        aria-label="Resource type"
        width={28}
        options={withCurrent(toOptions(types), query.resourceType)}
        value={query.resourceType ?? null}
        allowCustomValue
        onChange={(v) => update({ resourceType: v?.value })}
      />
    </InlineField>
  );
  const filter = (
    <TextField
      label="Filter"
      value={query.filter}
      placeholder="project_id='$project' and flavor_name='m1.small'"
      tooltip="A Gnocchi search filter; template variables are replaced"
      onCommit={(v) => update({ filter: v })}
    />
  );
  const aggregation = (
    <InlineField label="Aggregation" labelWidth={14}>
      <Select
        aria-label="Aggregation"
        width={20}
        options={withCurrent(toOptions(aggregationMethods), query.aggregation)}
        value={query.aggregation ?? 'mean'}
        allowCustomValue
        onChange={(v) => update({ aggregation: v?.value })}
      />
    </InlineField>
  );
  const common = (
    <InlineFieldRow>
      <TextField
        label="Granularity"
        width={12}
        value={query.granularity}
        placeholder="auto"
        tooltip="Seconds or a duration (5m); auto picks the coarsest granularity of the archive policy that still gives the panel's resolution"
        onCommit={(v) => update({ granularity: v })}
      />
      <TextField
        label="Legend"
        value={query.legend}
        placeholder="{{display_name}}"
        tooltip="{{attribute}} is replaced by the resource's or group's attribute"
        onCommit={(v) => update({ legend: v })}
      />
      <TextField label="Unit" width={12} value={query.unit} placeholder="auto" onCommit={(v) => update({ unit: v })} />
      <InlineField label="Per second" labelWidth={12} tooltip="Divide each value by its granularity: rate:mean of a counter becomes a rate per second">
        <InlineSwitch aria-label="Per second" value={!!query.perSecond} onChange={(e) => update({ perSecond: e.currentTarget.checked })} />
      </InlineField>
      <TextField
        label="Scale"
        width={10}
        value={query.scale === undefined ? '' : String(query.scale)}
        placeholder="1"
        tooltip="Multiply each value, e.g. 1e-7 turns ns of CPU per second into percent"
        onCommit={(v) => update({ scale: v.trim() === '' || isNaN(Number(v)) ? undefined : Number(v) })}
      />
    </InlineFieldRow>
  );

  return (
    <div>
      <InlineFieldRow>
        <InlineField label="Query type" labelWidth={14}>
          <RadioButtonGroup<QueryType>
            options={queryTypes}
            value={queryType}
            onChange={(v) => update({ queryType: v })}
          />
        </InlineField>
      </InlineFieldRow>
      {loadError && <div role="alert">{loadError}</div>}
      {queryType === 'resources' && (
        <>
          <InlineFieldRow>
            {resourceType}
            <InlineField label="Metric" labelWidth={14}>
              <Select
                aria-label="Metric"
                width={36}
                options={withCurrent(toOptions(metricNames), query.metricName)}
                value={query.metricName ?? null}
                allowCustomValue
                onChange={(v) => update({ metricName: v?.value })}
              />
            </InlineField>
            {aggregation}
          </InlineFieldRow>
          <InlineFieldRow>{filter}</InlineFieldRow>
          {common}
        </>
      )}
      {queryType === 'aggregates' && (
        <>
          <InlineFieldRow>
            {resourceType}
            <TextField
              label="Group by"
              value={(query.groupBy ?? []).join(', ')}
              placeholder="project_id, flavor_name"
              onCommit={(v) => update({ groupBy: parseGroupBy(v) })}
            />
          </InlineFieldRow>
          <InlineFieldRow>
            <TextField
              label="Operations"
              value={query.operations}
              placeholder="(aggregate mean (metric cpu mean))"
              onCommit={(v) => update({ operations: v })}
            />
          </InlineFieldRow>
          <InlineFieldRow>{filter}</InlineFieldRow>
          {common}
        </>
      )}
      {queryType === 'metric' && (
        <>
          <InlineFieldRow>
            <TextField label="Metric id" value={query.metricId} placeholder="UUID" onCommit={(v) => update({ metricId: v })} />
            {aggregation}
          </InlineFieldRow>
          {common}
        </>
      )}
      {queryType === 'annotations' && (
        <InlineFieldRow>
          <InlineField label="Alarm" labelWidth={14}>
            <Select
              aria-label="Alarm"
              width={36}
              options={[{ label: 'All alarms', value: '' }, ...alarms.map((a) => ({ label: a.name, value: a.alarm_id, description: a.state }))]}
              value={query.alarmId ?? ''}
              allowCustomValue
              onChange={(v) => update({ alarmId: v?.value })}
            />
          </InlineField>
          <InlineField label="Changes" labelWidth={14}>
            <Select
              aria-label="Changes"
              width={24}
              options={historyTypes}
              value={query.historyType ?? 'state transition'}
              onChange={(v) => update({ historyType: v?.value })}
            />
          </InlineField>
        </InlineFieldRow>
      )}
      {queryType === 'alarms' && (
        <InlineFieldRow>
          <InlineField label="State" labelWidth={14}>
            <Select
              aria-label="State"
              width={24}
              options={alarmStates}
              value={query.alarmState ?? ''}
              onChange={(v) => update({ alarmState: v?.value })}
            />
          </InlineField>
        </InlineFieldRow>
      )}
    </div>
  );
}
