"""The device service (`injector serve`): the guns' controllers kept connected in one
process, with a versioned HTTP API and a WebSocket of events, for every interface (the
touchscreen, a technician's laptop, a clinic's system, a CI pipeline).

One module per job:

    config.py       what the service is told (ports, address, record), checked first
    errors.py       its refusals, each an HTTP status with the offending value
    credentials.py  the users and API keys (a file of their own beside the record)
    auth.py         sign-in tokens, sign-in throttling, roles, cross-site refusal
    supervisor.py   one gun: connected all the time, reconnected after a lost link
    runs.py         sessions and calibration runs on a gun: started, held, stopped
    feed.py         the record's committed rows, as events
    events.py       numbered events, a ring, a bounded queue per client
    app.py          the FastAPI application: middleware, error mapping
    routes.py       the HTTP routes of /api/v1/
    ui_routes.py    the routes the touchscreen needs: zones and presets allowed, pictures,
                    the checklist's questions, the limits, the calibration wizard
    wizard.py       the wizard's prompts: a calibration run asks the page for readings
    pages.py        the touchscreen's pages (ui/) at the base URL, with their policy
    event_socket.py the WebSocket /api/v1/events
    openapi.py      the OpenAPI document, as docs/openapi.json holds it
    runtime.py      the service's life: uvicorn in the controllers' loop, signals

The command line and the service share one core: sessions run through
injector.session.run_session, values are checked through injector.inputs, plans through
injector.plan_request, records read through injector.store.
"""
