// The service's live events (WebSocket /api/v1/events), resumed after the last number seen
// when the connection drops: nothing is missed across a reconnect.
import { token } from "./api.js";

export class Events {
  constructor(after, onEvent) {
    this.after = after;
    this.onEvent = onEvent;
    this.closed = false;
    this.open();
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = this.after === null || this.after === undefined ? "" : `?after=${this.after}`;
    this.socket = new WebSocket(`${scheme}://${location.host}/api/v1/events${query}`,
                                ["injector.v1", `bearer.${token()}`]);
    this.socket.onmessage = (message) => {
      for (const item of JSON.parse(message.data)) {
        if (typeof item.seq === "number") this.after = item.seq;
        this.onEvent(item);
      }
    };
    this.socket.onclose = () => {
      if (!this.closed) setTimeout(() => { if (!this.closed) this.open(); }, 500);
    };
  }

  close() {
    this.closed = true;
    this.socket.close();
  }
}
