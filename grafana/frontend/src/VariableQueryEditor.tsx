import React, { useState } from 'react';
import { InlineField, Input } from '@grafana/ui';

import { VigilVariableQuery } from './types';

interface Props {
  query: VigilVariableQuery | string;
  onChange: (query: VigilVariableQuery, definition: string) => void;
}

export const variableExamples = [
  "resources(instance, project_id='$project')",
  'metrics(instance)',
  'attribute_values(instance, project_id)',
  'resource_types()',
  'alarms()',
];

/** The editor of a template variable's query, e.g. resources(instance, project_id='x'). */
export function VariableQueryEditor({ query, onChange }: Props) {
  const initial = typeof query === 'string' ? query : query?.query ?? '';
  const [value, setValue] = useState(initial);
  const save = () => onChange({ query: value }, value);
  return (
    <InlineField
      label="Query"
      labelWidth={14}
      grow
      tooltip={'One of: ' + variableExamples.join(', ')}
    >
      <Input
        aria-label="Variable query"
        placeholder={variableExamples[0]}
        value={value}
        onChange={(e) => setValue(e.currentTarget.value)}
        onBlur={save}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            save();
          }
        }}
      />
    </InlineField>
  );
}
