import { render } from 'preact';
import { App } from './ui/app';
import './ui/styles.css';

render(<App />, document.getElementById('app')!);
