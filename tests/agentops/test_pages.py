import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import LeadFactory, ProposedActionFactory, TicketFactory, UserFactory, user_in_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(client):
    # Ops admins see every domain (security.roles); the role tests are in tests/security.
    client.force_login(user_in_role("Ops admins", username="sofia"))
    return client


@pytest.mark.parametrize("path", ["/", "/leads/", "/actions/"])
def test_pages_send_anonymous_users_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_login_page_signs_a_user_in(client):
    UserFactory(username="sofia", password="correct-horse-9")
    assert b"Sign in to AgentOps" in client.get("/login/").content
    bad = client.post("/login/", {"username": "sofia", "password": "nope"})
    assert b"didn't match" in bad.content
    good = client.post("/login/", {"username": "sofia", "password": "correct-horse-9"})
    assert good.status_code == 302 and good["Location"] == "/"


def test_the_dashboard_lists_leads_and_waiting_actions(manager):
    LeadFactory(company_name="Initech")
    ProposedActionFactory(status="pending_approval", rationale="Score 92 and uncontacted")
    ProposedActionFactory(status="rejected", rationale="Already closed")
    html = manager.get("/").content.decode()
    assert "Initech" in html
    assert "Score 92 and uncontacted" in html
    assert "Already closed" not in html


@pytest.mark.parametrize(("path", "factory"), [("/leads/", "lead"), ("/actions/", "action")])
def test_list_pages_use_a_constant_number_of_queries(manager, path, factory):
    def make(n):
        for _ in range(n):
            if factory == "lead":
                LeadFactory(owner=UserFactory())
            else:
                ProposedActionFactory(ticket=TicketFactory(), lead=None)
                ProposedActionFactory()

    make(2)
    with CaptureQueriesContext(connection) as few:
        assert manager.get(path).status_code == 200
    make(30)
    with CaptureQueriesContext(connection) as many:
        assert manager.get(path).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_lead_list_filters_by_status_and_search(manager):
    LeadFactory(company_name="Globex", status="new")
    LeadFactory(company_name="Hooli", status="contacted")
    html = manager.get("/leads/", {"status": "new"}).content.decode()
    assert "Globex" in html and "Hooli" not in html
    html = manager.get("/leads/", {"q": "hoo"}).content.decode()
    assert "Hooli" in html and "Globex" not in html
