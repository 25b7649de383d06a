// SPDX-License-Identifier: LGPL-2.1-or-later
// The page's one MQTT connection (MQTT.js over WebSockets): subscriptions, hub discovery, requests.

import mqtt from 'mqtt';

const REQUEST_TIMEOUT_MS = 15000;

// opts: url, username, password, base ('needlegate'), hub (null: the first one heard of),
// onStatus(status, detail), onHub(hub), onMessage(path, payload).
export function openConnection(opts) {
  const tag = Math.random().toString(36).slice(2, 8);
  let hub = opts.hub || null;
  let n = 0;
  let closed = false; // after close(), the old client's last events must not reach the page
  const pending = new Map(); // transaction -> {resolve, timer}

  const client = mqtt.connect(opts.url, {
    clientId: 'needlegate-dashboard-' + tag,
    username: opts.username || undefined,
    password: opts.password || undefined,
    clean: true,
    reconnectPeriod: 2000,
    connectTimeout: 5000,
    resubscribe: false, // subscribed again on every connect, below: retained messages restore the page
  });

  const status = (s, detail) => closed || opts.onStatus(s, detail);
  const subscribe = () => {
    const topic = hub ? `${opts.base}/${hub}/#` : `${opts.base}/+/bridge/state`;
    client.subscribe(topic, { qos: 1 }, (err) => err && status('error', `subscribing to ${topic}: ${err.message}`));
  };

  client.on('connect', () => {
    status('connected');
    subscribe();
  });
  client.on('reconnect', () => status('reconnecting'));
  client.on('close', () => status('reconnecting'));
  client.on('offline', () => status('reconnecting'));
  // e.g. "Connection refused: Not authorized": shown as it is (it names no secret)
  client.on('error', (err) => status('error', err.message));

  client.on('message', (topic, payload) => {
    if (closed) return;
    const parts = topic.split('/');
    if (parts.length < 3 || parts[0] !== opts.base) return;
    if (!hub) {
      hub = parts[1];
      client.unsubscribe(`${opts.base}/+/bridge/state`);
      opts.onHub(hub);
      subscribe(); // the retained state comes again with the rest
      return;
    }
    if (parts[1] !== hub || payload.length === 0) return; // an empty payload clears a retained topic
    let msg;
    try {
      msg = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return; // not the contract's JSON: nothing to show
    }
    if (msg === null || typeof msg !== 'object') return;
    const path = parts.slice(2);
    if (path[0] === 'bridge' && path[1] === 'response') answer(msg);
    opts.onMessage(path, msg);
  });

  function answer(msg) {
    const p = pending.get(msg.transaction);
    if (!p) return;
    pending.delete(msg.transaction);
    clearTimeout(p.timer);
    p.resolve(msg);
  }

  // A bridge request; resolves to its response, or to an error response made here after 15 s.
  function request(action, payload) {
    const transaction = `dash-${tag}-${++n}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(transaction);
        resolve({ status: 'error', error: { code: 'timeout', message: `no answer from the hub within ${REQUEST_TIMEOUT_MS / 1000} s` } });
      }, REQUEST_TIMEOUT_MS);
      pending.set(transaction, { resolve, timer });
      client.publish(`${opts.base}/${hub}/bridge/request/${action}`, JSON.stringify({ ...payload, transaction }), { qos: 1 });
    });
  }

  function close() {
    closed = true;
    client.end(true);
  }

  return { request, close };
}
