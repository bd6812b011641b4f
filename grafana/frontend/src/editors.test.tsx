import React from 'react';
import { fireEvent, render, screen } from '@testing-library/react';
import { DataSourceSettings } from '@grafana/data';

import { ConfigEditor } from './ConfigEditor';
import { VariableQueryEditor } from './VariableQueryEditor';
import { VigilOptions, VigilSecureJsonData } from './types';

function settings(jsonData: VigilOptions, secureJsonFields: Record<string, boolean> = {}) {
  return {
    id: 1,
    uid: 'vigil',
    orgId: 1,
    name: 'vigil',
    type: 'vigil-metering-datasource',
    typeName: 'vigil',
    typeLogoUrl: '',
    access: 'proxy',
    url: 'http://127.0.0.1:8041',
    user: '',
    database: '',
    basicAuth: false,
    basicAuthUser: '',
    isDefault: false,
    jsonData,
    secureJsonFields,
    readOnly: false,
    withCredentials: false,
  } as unknown as DataSourceSettings<VigilOptions, VigilSecureJsonData>;
}

describe('ConfigEditor', () => {
  it('keeps the Keystone token in secureJsonData, never in jsonData', () => {
    const onOptionsChange = jest.fn();
    render(<ConfigEditor options={settings({ authMode: 'keystone' })} onOptionsChange={onOptionsChange} />);
    fireEvent.change(screen.getByLabelText('Token'), { target: { value: 'gAAAA-token' } });
    const saved = onOptionsChange.mock.calls[0][0];
    expect(saved.secureJsonData).toEqual({ token: 'gAAAA-token' });
    expect(JSON.stringify(saved.jsonData)).not.toContain('gAAAA');
  });

  it('turns on OAuth pass-through with token forwarding', () => {
    const onOptionsChange = jest.fn();
    render(<ConfigEditor options={settings({ authMode: 'keystone' })} onOptionsChange={onOptionsChange} />);
    fireEvent.click(screen.getByLabelText('Forward token'));
    expect(onOptionsChange.mock.calls[0][0].jsonData).toEqual({ authMode: 'keystone', forwardToken: true, oauthPassThru: true });
  });

  it('shows the noauth identity fields and writes them to jsonData', () => {
    const onOptionsChange = jest.fn();
    render(<ConfigEditor options={settings({ authMode: 'noauth' })} onOptionsChange={onOptionsChange} />);
    fireEvent.change(screen.getByLabelText('Project id'), { target: { value: 'ops' } });
    expect(onOptionsChange.mock.calls[0][0].jsonData).toEqual({ authMode: 'noauth', projectId: 'ops' });
    expect(screen.queryByLabelText('Token')).not.toBeInTheDocument();
  });

  it('resets a configured basic password', () => {
    const onOptionsChange = jest.fn();
    render(<ConfigEditor options={settings({ authMode: 'basic', basicUser: 'admin' }, { basicPassword: true })} onOptionsChange={onOptionsChange} />);
    fireEvent.click(screen.getByText('Reset'));
    const saved = onOptionsChange.mock.calls[0][0];
    expect(saved.secureJsonFields.basicPassword).toBe(false);
    expect(saved.secureJsonData.basicPassword).toBe('');
  });

  it('writes numeric limits as numbers', () => {
    const onOptionsChange = jest.fn();
    render(<ConfigEditor options={settings({})} onOptionsChange={onOptionsChange} />);
    fireEvent.change(screen.getByLabelText('Timeout'), { target: { value: '12' } });
    expect(onOptionsChange.mock.calls[0][0].jsonData.timeoutSeconds).toBe(12);
  });
});

describe('VariableQueryEditor', () => {
  it('saves the query on blur with its definition', () => {
    const onChange = jest.fn();
    render(<VariableQueryEditor query={{ query: '' }} onChange={onChange} />);
    const input = screen.getByLabelText('Variable query');
    fireEvent.change(input, { target: { value: "resources(instance, project_id='x')" } });
    fireEvent.blur(input);
    expect(onChange).toHaveBeenCalledWith({ query: "resources(instance, project_id='x')" }, "resources(instance, project_id='x')");
  });

  it('accepts a legacy string query', () => {
    render(<VariableQueryEditor query={'metrics(instance)'} onChange={jest.fn()} />);
    expect(screen.getByLabelText('Variable query')).toHaveValue('metrics(instance)');
  });
});
