import { fireEvent, screen, waitFor } from '@solidjs/testing-library';
import { describe, expect, it } from 'vitest';
import type { ConnectionInfo } from '../src/api/types';
import { Connection } from '../src/screens/Connection';
import { renderScreen } from './render';

const empty: ConnectionInfo = {
  configured: false, config_path: '/etc/bigreach/bigreach.toml', store_hash: null, bigcommerce_api_root: null,
  bloomreach_base_url: null, project_token: null, key_id: null, webhook_public_url: null, data_dir: null, secrets: [],
};

const fill = (key: string, value: string) =>
  fireEvent.input(screen.getByTestId(`connect-${key}`), { target: { value } });

describe('connection', () => {
  it('asks for the connection on first run, sends it, and shows what it wrote and what is next', async () => {
    const { fake } = renderScreen(() => <Connection />, {
      connection: () => empty,
      connect: (op) => ({
        connection: {
          ...empty, configured: true, store_hash: op.store_hash, bigcommerce_api_root: `https://api.bigcommerce.com/stores/${op.store_hash}/`,
          secrets: [{ field: 'bigcommerce.access_token', reference: 'keyring:bigcommerce-access-token', present: true }],
        },
        next_steps: ['Run the preflight below.'],
      }),
    });
    expect(await screen.findByTestId('connect-form')).toBeTruthy();
    expect((screen.getByTestId('connect-access_token') as HTMLInputElement).type).toBe('password');
    fill('store_hash', 'abc123');
    fill('access_token', 'tok');
    fill('bloomreach_base_url', 'https://api.eu1.exponea.com');
    fill('project_token', 'proj');
    fill('key_id', 'kid');
    fill('api_secret', 'sec');
    fill('webhook_public_url', 'https://hooks.shop.example/');
    fireEvent.submit(screen.getByTestId('connect-form'));
    await screen.findByTestId('connect-next-steps');
    expect(fake.calls).toContainEqual({
      op: 'connect', store_hash: 'abc123', access_token: 'tok', bloomreach_base_url: 'https://api.eu1.exponea.com',
      project_token: 'proj', key_id: 'kid', api_secret: 'sec', webhook_public_url: 'https://hooks.shop.example/',
      webhook_secret: null, data_dir: null,
    });
    expect(screen.getByTestId('connection-store').textContent).toBe('abc123');
    expect(screen.getByTestId('secret-bigcommerce.access_token').dataset.present).toBe('true');
    expect(screen.queryByTestId('connect-form')).toBeNull();
  });

  it("shows the host's refusal to store secrets with its code", async () => {
    renderScreen(() => <Connection />, {
      connection: () => ({ ...empty, configured: true, store_hash: 'abc123', secrets: [{ field: 'bloomreach.api_secret', reference: 'env:BIGREACH_BLOOMREACH_API_SECRET', present: false }] }),
      connect: () => ({ code: 'bad_request', message: 'this host keeps no secrets: set BIGREACH_BLOOMREACH_API_SECRET' }),
    });
    const missing = await screen.findByTestId('secret-bloomreach.api_secret');
    expect(missing.textContent).toContain('NO: set it');
    fireEvent.click(screen.getByTestId('connect-edit'));
    for (const key of ['store_hash', 'access_token', 'bloomreach_base_url', 'project_token', 'key_id', 'api_secret', 'webhook_public_url']) fill(key, 'x');
    fireEvent.submit(screen.getByTestId('connect-form'));
    await waitFor(() => expect(screen.getByTestId('connect-error').dataset.code).toBe('bad_request'));
  });
});
