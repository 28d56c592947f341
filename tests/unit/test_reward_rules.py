from services.rewards.domain.rules import DEFAULT_RULES, Award, RuleSet, ShareFacts, awards_for_share, thank_you


def test_default_share_earns_ten_points():
    assert awards_for_share(ShareFacts("NETWORK_LINKEDIN", personal_wording=False), DEFAULT_RULES) == [
        Award("share", 10)
    ]


def test_personal_wording_adds_five():
    awards = awards_for_share(ShareFacts("NETWORK_X", personal_wording=True), DEFAULT_RULES)
    assert awards == [Award("share", 10), Award("personal_wording", 5)]
    assert sum(a.points for a in awards) == 15


def test_points_per_network_are_data():
    rules = RuleSet(version=2, share_points_by_network={"NETWORK_XING": 12}, personal_wording_bonus=0)
    assert awards_for_share(ShareFacts("NETWORK_XING", personal_wording=True), rules) == [Award("share", 12)]


def test_thank_you_names_the_person_network_and_reach():
    line = thank_you("Aino", Award("share", 10), "NETWORK_LINKEDIN", 1240)
    assert line == "Thanks, Aino: your share on LinkedIn can reach 1,240 people (+10 points)."
