"""Seed one IntentPolicy per BANKING77 intent.

Every intent starts at the intent model's default threshold. Intents that imply an irreversible or
sensitive change (money back, a card blocked or replaced, a dispute, identity or security data,
closing the account) are not safe for automatic answers and always go to a person; the list is
seed data, editable afterwards in the admin, not a constant read at run time.
"""

from django.db import migrations

# The shipped intent model's default threshold (docs/support-bot.md), rounded to two decimals.
DEFAULT_THRESHOLD = 0.93

SENSITIVE = {
    "request_refund": "Refund: money leaves the bank; needs a person and an approved action.",
    "Refund_not_showing_up": "Refund status: about a refund in flight; a person checks it.",
    "lost_or_stolen_card": "Card block and replacement: irreversible; a person confirms.",
    "lost_or_stolen_phone": "Device security: the app and cards may need blocking.",
    "compromised_card": "Card block after fraud: irreversible; a person confirms.",
    "card_swallowed": "Card retained by an ATM: block and replace.",
    "pin_blocked": "Unblocking a PIN changes card security.",
    "change_pin": "PIN change: security data.",
    "passcode_forgotten": "Account access reset: identity must be checked.",
    "card_payment_not_recognised": "Dispute of a card payment (possible fraud).",
    "cash_withdrawal_not_recognised": "Dispute of a cash withdrawal (possible fraud).",
    "direct_debit_payment_not_recognised": "Dispute of a direct debit.",
    "transaction_charged_twice": "Dispute: duplicate charge to be refunded.",
    "wrong_amount_of_cash_received": "Dispute of an ATM withdrawal.",
    "extra_charge_on_statement": "Dispute of a charge.",
    "cancel_transfer": "Cancelling a transfer is a money movement.",
    "terminate_account": "Account closure: irreversible.",
    "unable_to_verify_identity": "Identity verification problems.",
    "verify_my_identity": "Identity verification.",
    "verify_source_of_funds": "Compliance (source of funds).",
    "edit_personal_details": "Changes personal data.",
}

INTENTS = [
    "Refund_not_showing_up",
    "activate_my_card",
    "age_limit",
    "apple_pay_or_google_pay",
    "atm_support",
    "automatic_top_up",
    "balance_not_updated_after_bank_transfer",
    "balance_not_updated_after_cheque_or_cash_deposit",
    "beneficiary_not_allowed",
    "cancel_transfer",
    "card_about_to_expire",
    "card_acceptance",
    "card_arrival",
    "card_delivery_estimate",
    "card_linking",
    "card_not_working",
    "card_payment_fee_charged",
    "card_payment_not_recognised",
    "card_payment_wrong_exchange_rate",
    "card_swallowed",
    "cash_withdrawal_charge",
    "cash_withdrawal_not_recognised",
    "change_pin",
    "compromised_card",
    "contactless_not_working",
    "country_support",
    "declined_card_payment",
    "declined_cash_withdrawal",
    "declined_transfer",
    "direct_debit_payment_not_recognised",
    "disposable_card_limits",
    "edit_personal_details",
    "exchange_charge",
    "exchange_rate",
    "exchange_via_app",
    "extra_charge_on_statement",
    "failed_transfer",
    "fiat_currency_support",
    "get_disposable_virtual_card",
    "get_physical_card",
    "getting_spare_card",
    "getting_virtual_card",
    "lost_or_stolen_card",
    "lost_or_stolen_phone",
    "order_physical_card",
    "passcode_forgotten",
    "pending_card_payment",
    "pending_cash_withdrawal",
    "pending_top_up",
    "pending_transfer",
    "pin_blocked",
    "receiving_money",
    "request_refund",
    "reverted_card_payment?",
    "supported_cards_and_currencies",
    "terminate_account",
    "top_up_by_bank_transfer_charge",
    "top_up_by_card_charge",
    "top_up_by_cash_or_cheque",
    "top_up_failed",
    "top_up_limits",
    "top_up_reverted",
    "topping_up_by_card",
    "transaction_charged_twice",
    "transfer_fee_charged",
    "transfer_into_account",
    "transfer_not_received_by_recipient",
    "transfer_timing",
    "unable_to_verify_identity",
    "verify_my_identity",
    "verify_source_of_funds",
    "verify_top_up",
    "virtual_card_not_working",
    "visa_or_mastercard",
    "why_verify_identity",
    "wrong_amount_of_cash_received",
    "wrong_exchange_rate_for_cash_withdrawal",
]


def seed(apps, schema_editor):
    IntentPolicy = apps.get_model("support", "IntentPolicy")
    for intent in INTENTS:
        sensitive = intent in SENSITIVE
        IntentPolicy.objects.get_or_create(
            intent=intent,
            defaults={
                "threshold": DEFAULT_THRESHOLD,
                "is_safe": not sensitive,
                "requires_human": sensitive,
                "notes": SENSITIVE.get(intent, ""),
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("support", "IntentPolicy").objects.filter(intent__in=INTENTS).delete()


class Migration(migrations.Migration):
    dependencies = [("support", "0002_intent_policy")]

    operations = [migrations.RunPython(seed, unseed)]
