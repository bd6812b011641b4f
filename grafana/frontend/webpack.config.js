// Builds the plugin's frontend as Grafana loads it: one AMD module.js with
// React, RxJS and @grafana/* left to Grafana, beside plugin.json.
const path = require('path');
const CopyWebpackPlugin = require('copy-webpack-plugin');

const pluginId = 'vigil-metering-datasource';

module.exports = (_env, argv) => ({
  mode: argv.mode ?? 'production',
  devtool: argv.mode === 'development' ? 'eval-source-map' : 'source-map',
  context: path.join(__dirname, 'src'),
  entry: { module: './module.ts' },
  output: {
    path: path.join(__dirname, 'dist'),
    filename: '[name].js',
    library: { type: 'amd' },
    publicPath: `public/plugins/${pluginId}/`,
    uniqueName: pluginId,
    clean: true,
  },
  externals: [
    'react',
    'react-dom',
    'rxjs',
    'lodash',
    'moment',
    '@emotion/css',
    '@emotion/react',
    /^@grafana\/data/,
    /^@grafana\/runtime/,
    /^@grafana\/ui/,
    /^@grafana\/schema/,
  ],
  resolve: { extensions: ['.ts', '.tsx', '.js', '.jsx'] },
  module: {
    rules: [
      {
        test: /\.[tj]sx?$/,
        exclude: /node_modules/,
        use: {
          loader: 'swc-loader',
          options: {
            jsc: {
              baseUrl: path.join(__dirname, 'src'),
              target: 'es2021',
              parser: { syntax: 'typescript', tsx: true },
              transform: { react: { runtime: 'classic' } },
            },
          },
        },
      },
    ],
  },
  plugins: [
    new CopyWebpackPlugin({
      patterns: [
        { from: 'plugin.json', to: '.' },
        { from: '../README.md', to: '.' },
        { from: 'img', to: 'img' },
        { from: '../../dashboards', to: 'dashboards' },
      ],
    }),
  ],
  performance: { hints: false },
});
