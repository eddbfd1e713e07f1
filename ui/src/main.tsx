import { render } from 'solid-js/web';
import { Client, httpTransport, inTauri, takeToken, tauriTransport, TOKEN_KEY } from './api';
import { App } from './App';
import './styles.css';

function transport() {
  if (inTauri()) return tauriTransport();
  // The token moves from the URL fragment to sessionStorage before anything else reads the URL.
  takeToken();
  return httpTransport({ token: () => window.sessionStorage.getItem(TOKEN_KEY) });
}

const root = document.getElementById('app');
if (root) render(() => <App client={new Client(transport())} />, root);
