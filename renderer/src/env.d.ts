/// <reference types="svelte" />

declare module '*.svelte' {
  import type { Component } from 'svelte';
  const component: Component<any>;
  export default component;
}

interface Window {
  studio?: import('../../electron/api/index.ts').StudioClient;
}
