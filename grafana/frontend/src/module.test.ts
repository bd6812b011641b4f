import { plugin } from './module';
import { ConfigEditor } from './ConfigEditor';
import { DataSource } from './datasource';
import { QueryEditor } from './QueryEditor';
import { VariableQueryEditor } from './VariableQueryEditor';

describe('module', () => {
  it('registers the data source with its editors', () => {
    expect(plugin.DataSourceClass).toBe(DataSource);
    expect(plugin.components.QueryEditor).toBe(QueryEditor);
    expect(plugin.components.ConfigEditor).toBe(ConfigEditor);
    expect(plugin.components.VariableQueryEditor).toBe(VariableQueryEditor);
  });
});
