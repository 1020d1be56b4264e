"""jade's dialplans (seed 004 `/dp/dpmas`, `/dp/dialplans`): dialplan masters and their
dialplans as event-sourced aggregates, rendered into `extensions.conf` contexts.

A dialplan master (dpma) is one context of its server's extensions.conf, `[dpma-<uuid>]`; its
dialplans are that context's priorities, in `sequence` order. Every write changes the file
through the configuration write path (`engine/configs.change`: a command in the log, then
`UpdateConfig` with `Reload: pbx_config`, then a `GetConfig` that confirms it), and only once
Asterisk took it is the aggregate's event appended: the log never holds a dialplan Asterisk
refused.

| module | holds |
|---|---|
| `objects.py` | the streams, the event types and their catalogue, the fields of each object |
| `render.py` | a dpma and its dialplans as a context; what `command` may hold (pure) |
| `commands.py` | REST writes: validate, change the file, append the aggregate's event |

Read model: `projections/dialplans.py`; REST: `api/dialplan.py`.
"""
