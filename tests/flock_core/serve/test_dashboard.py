"""The dashboard in headless Chromium: publish through the form, watch the activation and the lineage appear."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import anyio
import httpx
import pytest
from pydantic import BaseModel

from flock_core import ApprovalRejected, ArtifactPublished, Budget, EvaluationRequest, Flock
from flock_core.serve import start_server
from flock_core.testing import FunctionEngine

from .cdp import Page, find_chromium, launch
from .conftest import KEYS, Answer, Question, key
from .test_dead_letter_routes import Outage

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's executable; missing and not installable: fail on CI, skip elsewhere."""
    executable, reason = find_chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail(f"the dashboard browser test needs Chromium on CI: {reason}")
        pytest.skip(f"no Chromium for the dashboard browser test: {reason}")
    return executable


SELECT_QUESTION = """(() => {
    const select = document.querySelector('#publish-type');
    select.value = 'Question';
    select.dispatchEvent(new Event('change'));
    return true;
})()"""


async def fill_question(page: Page, text: str) -> None:
    await page.evaluate(SELECT_QUESTION)
    await page.evaluate(
        f"""(() => {{
            document.querySelector('[data-field="text"]').value = {json.dumps(text)};
            document.querySelector('[data-field="priority"]').value = '3';
            document.querySelector('[data-field="mood"]').value = '"sad"';
            document.querySelector('[data-field="tags"]').value = 'red\\nblue';
            document.querySelector('[data-field="urgent"]').checked = true;
            document.querySelector('#publish-submit').click();
            return true;
        }})()"""
    )


@pytest.mark.timeout(600)  # the fixture may install Chromium first
async def test_publish_through_the_dashboard(chromium: str, flock: Flock, tmp_path: Path) -> None:
    async with await start_server(flock, port=0) as server, launch(chromium, tmp_path / "profile") as page:
        await page.send("Page.navigate", url=server.url + "/")
        await page.wait_for(
            "document.body?.dataset.ready === 'true'"
            " && document.querySelector('#stream-status').dataset.state === 'live'"
            " && document.querySelectorAll('#publish-type option').length > 0"
        )
        nodes = await page.evaluate("[...document.querySelectorAll('#agent-graph g')].map(g => g.dataset.id)")
        assert sorted(nodes) == ["agent:answerer", "type:Answer", "type:Question"]
        assert await page.evaluate("[...document.querySelectorAll('#publish-type option')].map(o => o.value)") == [
            "Answer",
            "Question",
        ]
        await page.evaluate(SELECT_QUESTION)
        fields = await page.evaluate("[...document.querySelectorAll('[data-field]')].map(i => i.dataset.kind)")
        assert fields == ["string", "integer", "enum", "strings", "boolean"]

        await fill_question(page, "hello browser")
        await page.wait_for("!!document.querySelector('#event-feed li[data-kind=\"activation_finished\"]')")
        answer = await page.wait_for(
            "document.querySelector('#lineage-table tr[data-type=\"Answer\"]')?.textContent", timeout=10
        )
        assert "HELLO BROWSER" in answer
        assert await page.evaluate("document.querySelectorAll('#lineage-graph g.artifact').length") == 2
        assert "completed" in await page.wait_for(
            "document.querySelector('#lineage-status').textContent.includes('completed') && "
            "document.querySelector('#lineage-status').textContent"
        )
        kinds = await page.evaluate("[...document.querySelectorAll('#event-feed li')].map(li => li.dataset.kind)")
        assert kinds[::-1] == ["artifact_published", "activation_started", "artifact_published", "activation_finished"]

        async with httpx.AsyncClient(base_url=server.url) as http:
            question = (await http.get("/api/v1/artifacts", params={"type": "Question"})).json()["items"][0]
        assert question["payload"] == {
            "text": "hello browser",
            "priority": 3,
            "mood": "sad",
            "tags": ["red", "blue"],
            "urgent": True,
        }
        assert page.errors == []

        await fill_question(page, "")  # invalid: the form shows the field named by the 422 answer
        error = await page.wait_for("document.querySelector('#publish-result .field-error')?.textContent")
        assert error.startswith("payload.text:")
        assert await page.evaluate("document.querySelector('[data-field=\"text\"]').classList.contains('invalid')")
        shot = await page.send("Page.captureScreenshot", format="png")
        (tmp_path / "dashboard.png").write_bytes(base64.b64decode(shot["data"]))
        await page.evaluate("1")  # drain pending events
        assert [e for e in page.errors if "422" not in e] == []  # Chrome logs the 422 response itself


@pytest.mark.timeout(600)  # the fixture may install Chromium first
async def test_the_lineage_status_shows_usage_and_what_is_left_of_the_budget(
    chromium: str, flock: Flock, tmp_path: Path
) -> None:
    await flock.publish({"type": "Question", "payload": {"text": "a"}}, correlation_id="wf", budget=Budget(max_calls=0))
    await flock.run_until_idle()
    async with await start_server(flock, port=0) as server, launch(chromium, tmp_path / "profile") as page:
        await page.send("Page.navigate", url=server.url + "/")
        await page.wait_for("document.body?.dataset.ready === 'true'")
        await page.evaluate(
            """(() => {
                document.querySelector('#lineage-cid').value = 'wf';
                document.querySelector('#lineage-form').requestSubmit();
                return true;
            })()"""
        )
        status = await page.wait_for(
            "document.querySelector('#lineage-status').textContent.includes('budget') && "
            "document.querySelector('#lineage-status').textContent"
        )
        assert status == (
            "cancelled: 2 artifacts, 1 errors, 0 pending · 0 model calls, $0.0000 · "
            "budget left: max_calls 0 (stopped: max_calls reached)"
        )


@pytest.mark.timeout(600)  # the fixture may install Chromium first
async def test_the_dashboard_shows_the_streamed_text_of_running_agents(chromium: str, tmp_path: Path) -> None:
    gate = anyio.Event()

    async def slow_answer(request: EvaluationRequest) -> list[BaseModel]:
        assert request.on_token is not None  # the dashboard asked for tokens: the engine streams
        request.on_token("HELLO ")
        request.on_token("STREAMING WORLD")
        await gate.wait()
        return [Answer(text="done")]

    flock = Flock(engine=FunctionEngine(slow_answer))
    flock.register_type(Question)
    flock.register_type(Answer)
    flock.agent("answerer").consumes(Question).publishes(Answer)
    async with await start_server(flock, port=0) as server, launch(chromium, tmp_path / "profile") as page:
        await page.send("Page.navigate", url=server.url + "/")
        await page.wait_for(
            "document.body?.dataset.ready === 'true'"
            " && document.querySelector('#stream-status')?.dataset.state === 'live'"
        )
        async with httpx.AsyncClient(base_url=server.url) as http:
            await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "hi"}})
        shown = "document.querySelector('#running [data-agent=\"answerer\"] pre')?.textContent"
        await page.wait_for(f"{shown} === 'HELLO STREAMING WORLD'", timeout=10)  # both tokens, in order
        assert await page.evaluate(shown) == "HELLO STREAMING WORLD"
        assert await page.evaluate("document.querySelector('#running-empty').hidden")
        gate.set()
        await page.wait_for("document.querySelectorAll('#running .running').length === 0", timeout=10)
        await page.wait_for("!!document.querySelector('#event-feed li[data-kind=\"activation_finished\"]')")
        kinds = await page.evaluate("[...document.querySelectorAll('#event-feed li')].map(li => li.dataset.kind)")
        assert "token_streamed" not in kinds  # tokens go to the running box, not to the feed


class Note(BaseModel):
    text: str


def reply(request: EvaluationRequest) -> list[BaseModel]:
    payload = request.payloads[0]
    if isinstance(payload, Question):
        return [Answer(text=payload.text.upper())]
    return [Note(text=f"noted {payload.text}")]  # type: ignore[attr-defined]


def approval_flock() -> Flock:
    """`Question -> answerer (held for the anonymous caller's approval) -> Answer -> archivist -> Note`."""
    flock = Flock(engine=FunctionEngine(reply))
    for model in (Question, Answer, Note):
        flock.register_type(model)
    flock.agent("answerer").consumes(Question).publishes(Answer).requires_approval("anonymous")
    flock.agent("archivist").consumes(Answer).publishes(Note)
    return flock


def click(selector: str) -> str:
    return f"(() => {{ document.querySelector({json.dumps(selector)}).click(); return true; }})()"


@pytest.mark.timeout(600)
async def test_approve_reject_and_control_workflows_from_the_dashboard(chromium: str, tmp_path: Path) -> None:
    flock = approval_flock()
    noted = anyio.Event()
    flock.events.subscribe(
        lambda e: noted.set() if isinstance(e, ArtifactPublished) and e.artifact.type == "Note" else None
    )
    async with await start_server(flock, port=0) as server, launch(chromium, tmp_path / "profile") as page:
        workflows: dict[str, str] = {}
        async with httpx.AsyncClient(base_url=server.url) as http:
            for text in ("keep", "drop"):
                published = await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": text}})
                workflows[text] = published.json()["correlation_id"]
        await page.send("Page.navigate", url=server.url + "/")
        await page.wait_for(
            "document.querySelectorAll('#approvals-table tr[data-approval-id]').length === 2", timeout=20
        )
        requests = {
            text: r.id for r in await flock.approvals() for text, cid in workflows.items() if r.correlation_id == cid
        }
        assert await flock.get_by_type(Answer) == []

        await page.evaluate(click(f'tr[data-approval-id="{requests["keep"]}"] button[data-action="approve"]'))
        await page.wait_for("document.querySelector('#approval-result').dataset.outcome === 'approved'")
        with anyio.fail_after(20):
            await noted.wait()
        assert await flock.get_by_type(Note) == [Note(text="noted KEEP")]

        row = f'tr[data-approval-id="{requests["drop"]}"]'
        await page.wait_for("document.querySelectorAll('#approvals-table tr[data-approval-id]').length === 1")
        await page.evaluate(f"document.querySelector('{row} input[data-role=\"reason\"]').value = 'off topic'")
        async with httpx.AsyncClient(base_url=server.url) as http:  # a new request re-renders the table
            await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "later"}})
        await page.wait_for(
            "document.querySelectorAll('#approvals-table tr[data-approval-id]').length === 2", timeout=20
        )
        typed = await page.evaluate(f"document.querySelector('{row} input[data-role=\"reason\"]').value")
        assert typed == "off topic", "what the approver typed survives a refresh of the table"
        await page.evaluate(click(f'{row} button[data-action="reject"]'))
        await page.wait_for("document.querySelector('#approval-result').dataset.outcome === 'rejected'")
        await page.wait_for("document.querySelectorAll('#approvals-table tr[data-approval-id]').length === 1")
        [rejected] = await flock.get_by_type(ApprovalRejected)
        assert (rejected.rejected_by, rejected.reason) == ("anonymous", "off topic")

        await page.evaluate(click("#board-pause"))
        await page.wait_for("document.querySelector('#control-result').dataset.action === 'board-pause'")
        assert await flock.store.paused_workflows() == frozenset({None})
        await page.evaluate(click("#board-resume"))
        await page.wait_for("document.querySelector('#control-result').dataset.action === 'board-resume'")
        assert await flock.store.paused_workflows() == frozenset()

        keep = workflows["keep"]
        await page.evaluate(f"document.querySelector('#lineage-cid').value = '{keep}'")
        await page.evaluate("document.querySelector('#lineage-form').requestSubmit() || true")
        await page.wait_for("!document.querySelector('#workflow-controls').hidden")
        for action in ("pause", "resume"):
            await page.evaluate(click(f"#workflow-{action}"))
            await page.wait_for(f"document.querySelector('#control-result').dataset.action === '{action}'")
            assert await flock.store.paused_workflows() == (frozenset({keep}) if action == "pause" else frozenset())
        await page.evaluate("document.querySelector('#cancel-reason').value = 'enough'")
        await page.evaluate(click("#workflow-cancel"))
        await page.wait_for("document.querySelector('#control-result').dataset.action === 'cancel'")
        assert await page.evaluate("document.querySelector('#control-result').dataset.ok") == "true"
        status = await flock.get_correlation_status(keep)
        assert (status.state, status.cancel_reason) == ("cancelled", "enough")
        assert page.errors == []


@pytest.mark.timeout(600)
async def test_the_approvals_panel_follows_the_event_stream(chromium: str, tmp_path: Path) -> None:
    flock = approval_flock()
    async with await start_server(flock, port=0) as server, launch(chromium, tmp_path / "profile") as page:
        await page.send("Page.navigate", url=server.url + "/")
        await page.wait_for(
            "document.body?.dataset.ready === 'true'"
            " && document.querySelector('#stream-status')?.dataset.state === 'live'"
        )
        # while the stream is live the panel does not poll: only the approval events can update it
        async with httpx.AsyncClient(base_url=server.url) as http:
            await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "hold me"}})
            await page.wait_for("!!document.querySelector('#event-feed li[data-kind=\"approval_requested\"]')")
            await page.wait_for("document.querySelectorAll('#approvals-table tr[data-approval-id]').length === 1")
            [request] = await flock.approvals()
            decided = await http.post(f"/api/v1/approvals/{request.id}/approve")  # not through the dashboard
            assert decided.status_code == 200
        await page.wait_for("!!document.querySelector('#event-feed li[data-kind=\"approval_decided\"]')")
        await page.wait_for("document.querySelectorAll('#approvals-table tr[data-approval-id]').length === 0")
        assert not await page.evaluate("document.querySelector('#approvals-empty').hidden")
        assert page.errors == []


@pytest.mark.timeout(600)
async def test_the_dead_letters_panel_lists_only_the_callers_and_replays_them(chromium: str, tmp_path: Path) -> None:
    outage = Outage()
    flock = Flock(engine=FunctionEngine(outage))
    flock.register_type(Question)
    flock.register_type(Answer)
    for tenant in ("acme", "globex"):
        flock.agent(f"answerer-{tenant}").tenant(tenant).consumes(Question).publishes(Answer)
    async with (
        await start_server(flock, port=0, auth=KEYS) as server,
        launch(chromium, tmp_path / "profile") as page,
    ):
        async with httpx.AsyncClient(base_url=server.url) as http:
            for caller, text in (("alice", "acme secret"), ("bob", "globex secret")):
                await http.post(
                    "/api/v1/artifacts", json={"type": "Question", "payload": {"text": text}}, headers=key(caller)
                )
        with anyio.fail_after(20):
            while len(await flock.dead_letters()) < 2:  # noqa: ASYNC110 - the served Flock runs the work
                await anyio.sleep(0.05)
        [alices] = [d for d in await flock.dead_letters() if d.agent == "answerer-acme"]
        await page.send("Page.navigate", url=server.url + "/")
        await page.wait_for("document.body?.dataset.ready === 'true'")
        await page.evaluate("localStorage.setItem('flock-api-key', 'alice-key') || true")
        await page.send("Page.navigate", url=server.url + "/")
        rows = "document.querySelectorAll('#dead-letters-table tr[data-key]')"
        await page.wait_for(f"{rows}.length === 1", timeout=20)
        cells = await page.evaluate(f"[...{rows}[0].cells].map(c => c.textContent)")
        assert cells[0] == "answerer-acme"
        assert cells[2:4] == ["cannot parse 'acme secret'", "1"]
        assert cells[4]  # when it failed
        assert await page.evaluate(f"{rows}[0].dataset.key") == alices.key
        panel = await page.evaluate("document.querySelector('#dead-letters-panel').outerHTML")
        assert "globex" not in panel  # bob's dead letter, its agent and its error are not on alice's page
        assert "globex secret" not in await page.evaluate("document.documentElement.outerHTML")

        outage.fixed = True
        await page.evaluate(click('#dead-letters-table button[data-action="replay"]'))
        await page.wait_for("document.querySelector('#dead-letter-result').textContent === 'replayed 1'")
        await page.wait_for(f"{rows}.length === 0", timeout=20)
        with anyio.fail_after(20):
            while await flock.get_by_type(Answer) == []:  # noqa: ASYNC110 - the served Flock runs the replay
                await anyio.sleep(0.05)
        assert await flock.get_by_type(Answer) == [Answer(text="ACME SECRET")]
        assert [d.agent for d in await flock.dead_letters()] == ["answerer-globex"]
        assert [e for e in page.errors if "401" not in e] == []  # before the key was set, Chrome logs the 401s
