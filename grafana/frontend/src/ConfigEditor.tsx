import React, { ChangeEvent } from 'react';
import { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { Field, FieldSet, InlineSwitch, Input, RadioButtonGroup, SecretInput } from '@grafana/ui';

import { AuthMode, VigilOptions, VigilSecureJsonData } from './types';

type Props = DataSourcePluginOptionsEditorProps<VigilOptions, VigilSecureJsonData>;

const authModes: Array<{ label: string; value: AuthMode; description: string }> = [
  { label: 'No auth', value: 'noauth', description: 'Identity headers (X-User-Id, X-Project-Id, X-Roles), for trusted networks' },
  { label: 'Basic', value: 'basic', description: "Gnocchi's basic mode: the user name is the user and its project" },
  { label: 'Keystone', value: 'keystone', description: 'A Keystone token sent as X-Auth-Token' },
];

/** The data source's settings: the API URL, the auth mode and its secrets, and the bounds. */
export function ConfigEditor({ options, onOptionsChange }: Props) {
  const jsonData = options.jsonData ?? {};
  const secure = options.secureJsonFields ?? {};
  const mode: AuthMode = jsonData.authMode ?? 'noauth';

  const setJSON = (patch: Partial<VigilOptions>) =>
    onOptionsChange({ ...options, jsonData: { ...jsonData, ...patch } });
  const text = (key: keyof VigilOptions) => (e: ChangeEvent<HTMLInputElement>) => setJSON({ [key]: e.currentTarget.value });
  const num = (key: keyof VigilOptions) => (e: ChangeEvent<HTMLInputElement>) => {
    const v = e.currentTarget.value;
    setJSON({ [key]: v === '' ? undefined : Number(v) });
  };
  const setSecret = (key: keyof VigilSecureJsonData) => (e: ChangeEvent<HTMLInputElement>) =>
    onOptionsChange({ ...options, secureJsonData: { ...(options.secureJsonData ?? {}), [key]: e.currentTarget.value } });
  const resetSecret = (key: keyof VigilSecureJsonData) => () =>
    onOptionsChange({
      ...options,
      secureJsonFields: { ...secure, [key]: false },
      secureJsonData: { ...(options.secureJsonData ?? {}), [key]: '' },
    });

  return (
    <>
      <FieldSet label="vigil API">
        <Field label="URL" description="The API's root, e.g. http://127.0.0.1:8041" required>
          <Input
            aria-label="URL"
            width={48}
            value={options.url ?? ''}
            placeholder="http://127.0.0.1:8041"
            onChange={(e) => onOptionsChange({ ...options, url: e.currentTarget.value })}
          />
        </Field>
      </FieldSet>
      <FieldSet label="Authentication">
        <Field label="Auth mode">
          <RadioButtonGroup<AuthMode> options={authModes} value={mode} onChange={(v) => setJSON({ authMode: v })} />
        </Field>
        {mode === 'noauth' && (
          <>
            <Field label="User id">
              <Input aria-label="User id" width={40} value={jsonData.userId ?? ''} onChange={text('userId')} />
            </Field>
            <Field label="Project id">
              <Input aria-label="Project id" width={40} value={jsonData.projectId ?? ''} onChange={text('projectId')} />
            </Field>
            <Field label="Roles" description="Comma-separated; admin sees every project">
              <Input aria-label="Roles" width={40} value={jsonData.roles ?? ''} placeholder="admin" onChange={text('roles')} />
            </Field>
          </>
        )}
        {mode === 'basic' && (
          <>
            <Field label="User">
              <Input aria-label="User" width={40} value={jsonData.basicUser ?? ''} onChange={text('basicUser')} />
            </Field>
            <Field label="Password">
              <SecretInput
                aria-label="Password"
                width={40}
                isConfigured={!!secure.basicPassword}
                value={options.secureJsonData?.basicPassword ?? ''}
                onChange={setSecret('basicPassword')}
                onReset={resetSecret('basicPassword')}
              />
            </Field>
          </>
        )}
        {mode === 'keystone' && (
          <>
            <Field label="Token" description="Sent as X-Auth-Token; kept encrypted">
              <SecretInput
                aria-label="Token"
                width={40}
                isConfigured={!!secure.token}
                value={options.secureJsonData?.token ?? ''}
                onChange={setSecret('token')}
                onReset={resetSecret('token')}
              />
            </Field>
            <Field label="Forward the request's token" description="Send the token Grafana forwards (OAuth pass-through) as X-Auth-Token">
              <InlineSwitch
                aria-label="Forward token"
                value={!!jsonData.forwardToken}
                onChange={(e) => setJSON({ forwardToken: e.currentTarget.checked, oauthPassThru: e.currentTarget.checked })}
              />
            </Field>
          </>
        )}
      </FieldSet>
      <FieldSet label="Limits">
        <Field label="Timeout (seconds)">
          <Input aria-label="Timeout" type="number" width={16} value={jsonData.timeoutSeconds ?? ''} placeholder="30" onChange={num('timeoutSeconds')} />
        </Field>
        <Field label="Largest answer (MiB)">
          <Input aria-label="Largest answer" type="number" width={16} value={jsonData.maxResponseMB ?? ''} placeholder="64" onChange={num('maxResponseMB')} />
        </Field>
        <Field label="Most series per query">
          <Input aria-label="Most series" type="number" width={16} value={jsonData.maxSeries ?? ''} placeholder="1000" onChange={num('maxSeries')} />
        </Field>
      </FieldSet>
    </>
  );
}
