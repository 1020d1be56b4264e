"""The outbound dialer (seed 004, "jade" outbound): campaigns, plans, destinations, dial list
masters and dial list entries as event-sourced aggregates, and a process manager that dials.

One concept per module:

| module | holds |
|---|---|
| `codes.py` | the seed's numbers: campaign and dialing statuses, dial modes, `res_dial` |
| `events.py` | the catalogue of the events the dialer appends, and their streams |
| `objects.py` | what the objects share: fields, validation, `evolve` (event -> next version) |
| `plans.py` `destinations.py` `dlmas.py` `dls.py` `campaigns.py` `dncs.py` | one object each |
| `schedule.py` | when a campaign may run, when a customer may be called (pure) |
| `picking.py` | which customer and which number next (pure) |
| `pacing.py` | how many calls now, and the adaptive predictive ratio (pure) |
| `dialings.py` | one attempt: the Originate, its AMI events, its result record (pure) |
| `process.py` | the process manager's decisions (pure: read models and a clock in) |
| `commands.py` | REST writes: load an aggregate from its stream, append its next event |
| `resultsfile.py` | the results file, a projection written to disk |
| `service.py` | `Dialer`: wires the above to the engine (projector thread, event loop, AMI) |

Read models: `projections/dialings.py`, `projections/results.py`; REST: `api/ob.py`.
"""
