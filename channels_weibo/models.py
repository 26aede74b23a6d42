"""Weibo: the brand's accounts, the people and posts it listens to, and what marketing does there.

Platform ids (`uid`, `idstr`) are strings end to end: status ids are 16 digits today and some
`mid`s exceed 2^53, which float-based JSON parsers corrupt (reference/weibo-api.md section 6).
Times are the platform's own `created_at`, stored in UTC.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.fields import EncryptedTextField
from crm.models import Customer, Handoff

TOKEN_WARNING = timedelta(days=3)


class TokenStatus(models.TextChoices):
    OK = "ok", _("OK")
    EXPIRED = "expired", _("Expired: authorise again")
    REVOKED = "revoked", _("Revoked: authorise again")
    MISSING = "missing", _("Not connected")


class WeiboAccount(models.Model):
    """A brand's own Weibo account, connected through OAuth, polled for what concerns it.

    `cursors` holds the polling position of each stream (`since_id` per stream name, and per
    brand post for its reposts); a cursor only moves after a stream was read completely.
    `app_secret` is the fan-service app secret that signs pushes to `/hooks/weibo/<uid>`.
    """

    uid = models.CharField(_("uid"), max_length=20, unique=True)
    screen_name = models.CharField(_("screen name"), max_length=64)
    access_token = EncryptedTextField(_("access token"), blank=True)
    token_expires_at = models.DateTimeField(_("token expires at"), null=True, blank=True)
    token_status = models.CharField(
        _("token status"), max_length=12, choices=TokenStatus.choices, default=TokenStatus.MISSING
    )
    token_error = models.CharField(_("token error"), max_length=255, blank=True)
    app_key = models.CharField(_("fan-service app key"), max_length=32, blank=True)
    app_secret = EncryptedTextField(_("fan-service app secret"), blank=True)
    cursors = models.JSONField(_("polling cursors"), default=dict, blank=True)
    rate_limited_until = models.DateTimeField(_("rate limited until"), null=True, blank=True)
    last_polled_at = models.DateTimeField(_("last polled at"), null=True, blank=True)
    last_poll_error = models.CharField(_("last poll error"), max_length=255, blank=True)
    active = models.BooleanField(_("polled"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["screen_name"]
        verbose_name = _("Weibo account")
        verbose_name_plural = _("Weibo accounts")

    def __str__(self) -> str:
        return f"{self.screen_name} ({self.uid})"

    @property
    def token_usable(self) -> bool:
        return bool(self.access_token) and self.token_status == TokenStatus.OK

    @property
    def token_expires_soon(self) -> bool:
        """The token lapses within TOKEN_WARNING: the operator should authorise again."""
        if not self.token_expires_at or self.token_status != TokenStatus.OK:
            return False
        return self.token_expires_at - timezone.now() < TOKEN_WARNING


class KolCategory(models.TextChoices):
    BIG_V = "big_v", _("Big-V")
    GRASSROOTS = "grassroots", _("Grassroots")
    JOKE = "joke", _("Joke writer")
    CELEBRITY = "celebrity", _("Celebrity")
    MEDIA = "media", _("Media")


class WeiboUser(models.Model):
    """A Weibo identity (anyone who posted, commented, reposted or wrote to the brand).

    Linked to the master customer record; a new one creates a customer in stage `follower`.
    `verified_type` is Weibo's code: -1 not verified, 0 personal (黄V), >= 1 organisations (蓝V).
    """

    uid = models.CharField(_("uid"), max_length=20, unique=True)
    screen_name = models.CharField(_("screen name"), max_length=64, db_index=True)
    location = models.CharField(_("location"), max_length=64, blank=True)
    gender = models.CharField(_("gender"), max_length=2, blank=True)
    followers_count = models.BigIntegerField(_("followers"), default=0)
    friends_count = models.BigIntegerField(_("following"), default=0)
    statuses_count = models.BigIntegerField(_("posts"), default=0)
    verified = models.BooleanField(_("verified"), default=False)
    verified_type = models.IntegerField(_("verified type"), default=-1)
    kol_category = models.CharField(
        _("KOL category"), max_length=12, choices=KolCategory.choices, blank=True
    )
    avatar_url = models.URLField(_("avatar"), max_length=300, blank=True)
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="weibo_users",
    )
    created_at = models.DateTimeField(_("first seen"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-followers_count", "uid"]
        verbose_name = _("Weibo user")
        verbose_name_plural = _("Weibo users")

    def __str__(self) -> str:
        return f"@{self.screen_name}"


class SentimentLabel(models.TextChoices):
    """Labels of the SnowNLP score: >= 0.6 positive, <= 0.4 negative, otherwise neutral."""

    POSITIVE = "positive", _("Positive")
    NEUTRAL = "neutral", _("Neutral")
    NEGATIVE = "negative", _("Negative")


class WeiboPost(models.Model):
    """A status (微博): the brand's own posts, and others' posts that concern the brand.

    `root` is the original of a repost (`retweeted_status`); `parent` is the repost it was
    reposted from, reconstructed from the `//@name:` chain (None = straight from the root).
    Counters are the latest known. `mentions_brand`, `keywords` (matched rule ids and words) and
    the sentiment (SnowNLP score 0..1 and its label) are set on posts by others only.
    """

    # What identifies a post and who wrote it when (ingestion's columns and the API start so).
    HEAD_FIELDS = (
        "idstr",
        "mid",
        "account",
        "author",
        "text",
        "created_at",
        "is_brand_post",
    )

    idstr = models.CharField(_("id"), max_length=20, unique=True)
    mid = models.CharField(_("mid"), max_length=24, blank=True)
    account = models.ForeignKey(
        WeiboAccount,
        verbose_name=_("brand account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="posts",
    )
    author = models.ForeignKey(
        WeiboUser, verbose_name=_("author"), on_delete=models.PROTECT, related_name="posts"
    )
    text = models.TextField(_("text"), blank=True)
    created_at = models.DateTimeField(_("posted at"), db_index=True)
    is_brand_post = models.BooleanField(_("brand post"), default=False)
    root = models.ForeignKey(
        "self",
        verbose_name=_("original post"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reposts",
        db_index=False,  # (root, author) below
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("reposted from"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
    )
    parent_name = models.CharField(_("reposted from (name)"), max_length=64, blank=True)
    reposts_count = models.BigIntegerField(_("reposts"), default=0)
    comments_count = models.BigIntegerField(_("comments"), default=0)
    attitudes_count = models.BigIntegerField(_("likes"), default=0)
    mentions_brand = models.BooleanField(_("mentions the brand"), default=False)
    keywords = models.JSONField(_("matched keywords"), default=list, blank=True)
    sentiment = models.FloatField(_("sentiment score"), null=True, blank=True)
    sentiment_label = models.CharField(
        _("sentiment"), max_length=8, choices=SentimentLabel.choices, blank=True
    )
    raw = models.JSONField(_("raw object"), default=dict, blank=True)
    fetched_at = models.DateTimeField(_("updated from Weibo at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("Weibo post")
        verbose_name_plural = _("Weibo posts")
        indexes = [
            models.Index(fields=["account", "is_brand_post", "created_at"]),
            models.Index(fields=["account", "mentions_brand", "created_at"]),
            # A cascade's reposts, and who of a few authors reposted it (finding parents).
            models.Index(fields=["root", "author"], name="weibopost_root_author"),
            # Reposts whose parent has not arrived yet, by the name they wait for.
            models.Index(
                fields=["root", "parent_name"],
                condition=models.Q(parent__isnull=True) & ~models.Q(parent_name=""),
                name="weibopost_orphans",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.idstr} {self.text[:30]}"

    @property
    def url(self) -> str:
        return f"https://weibo.com/{self.author.uid}/{self.idstr}"


class WeiboComment(models.Model):
    """A comment on a post: on the brand's posts, or one that @-mentions the brand."""

    idstr = models.CharField(_("id"), max_length=20, unique=True)
    mid = models.CharField(_("mid"), max_length=24, blank=True)
    account = models.ForeignKey(
        WeiboAccount,
        verbose_name=_("brand account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="comments",
    )
    post = models.ForeignKey(
        WeiboPost, verbose_name=_("post"), on_delete=models.CASCADE, related_name="comments"
    )
    author = models.ForeignKey(
        WeiboUser, verbose_name=_("author"), on_delete=models.PROTECT, related_name="comments"
    )
    reply_to = models.CharField(_("reply to comment"), max_length=20, blank=True)
    text = models.TextField(_("text"), blank=True)
    created_at = models.DateTimeField(_("commented at"), db_index=True)
    mentions_brand = models.BooleanField(_("mentions the brand"), default=False)
    keywords = models.JSONField(_("matched keywords"), default=list, blank=True)
    sentiment = models.FloatField(_("sentiment score"), null=True, blank=True)
    sentiment_label = models.CharField(
        _("sentiment"), max_length=8, choices=SentimentLabel.choices, blank=True
    )
    raw = models.JSONField(_("raw object"), default=dict, blank=True)
    fetched_at = models.DateTimeField(_("updated from Weibo at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("Weibo comment")
        verbose_name_plural = _("Weibo comments")
        indexes = [models.Index(fields=["account", "created_at"])]

    def __str__(self) -> str:
        return f"{self.idstr} {self.text[:30]}"


class FollowerSnapshot(models.Model):
    """The account's follower count on one local day (Asia/Shanghai); the last reading wins."""

    account = models.ForeignKey(
        WeiboAccount,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="follower_snapshots",
    )
    day = models.DateField(_("day"))
    followers_count = models.BigIntegerField(_("followers"))
    friends_count = models.BigIntegerField(_("following"), null=True, blank=True)
    statuses_count = models.BigIntegerField(_("posts"), null=True, blank=True)
    taken_at = models.DateTimeField(_("taken at"), default=timezone.now)

    class Meta:
        ordering = ["-day"]
        verbose_name = _("follower snapshot")
        verbose_name_plural = _("follower snapshots")
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="uniq_follower_snapshot_day")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day}: {self.followers_count}"


class KeywordRule(models.Model):
    """Words to listen for in posts and comments by others, and what a match does.

    Actions: tag the author's customer, open a lead from the post or comment, alert marketing,
    and send the author the WeChat handoff link (a lead opened if there is none; once per
    person: channels_weibo.handoff.send_rule_handoff). Words and exclusions are separated by commas (，or ,) or new lines; matching is by substring
    on Chinese text (no word boundaries), case-insensitive. A text containing any exclusion does
    not match. No accounts selected = every brand account.
    """

    name = models.CharField(_("name"), max_length=100)
    words = models.TextField(_("words"), help_text=_("Separated by commas or new lines."))
    exclusions = models.TextField(_("exclusions"), blank=True)
    accounts = models.ManyToManyField(
        WeiboAccount, verbose_name=_("accounts"), blank=True, related_name="keyword_rules"
    )
    action_tag = models.BooleanField(_("tag the customer"), default=False)
    tag_name = models.CharField(_("tag"), max_length=64, blank=True)
    action_lead = models.BooleanField(_("create a lead"), default=False)
    action_alert = models.BooleanField(_("alert marketing"), default=False)
    action_handoff = models.BooleanField(_("send the WeChat handoff link"), default=False)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("keyword rule")
        verbose_name_plural = _("keyword rules")

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def split(value: str) -> list[str]:
        import re

        return [w.strip() for w in re.split(r"[,，、\n\r]+", value or "") if w.strip()]

    @property
    def word_list(self) -> list[str]:
        return self.split(self.words)

    @property
    def exclusion_list(self) -> list[str]:
        return self.split(self.exclusions)


class KeywordAlert(models.Model):
    """A keyword match marketing asked to be alerted about; they acknowledge it in the admin."""

    rule = models.ForeignKey(
        KeywordRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="alerts"
    )
    post = models.ForeignKey(
        WeiboPost, verbose_name=_("post"), null=True, blank=True, on_delete=models.CASCADE
    )
    comment = models.ForeignKey(
        WeiboComment, verbose_name=_("comment"), null=True, blank=True, on_delete=models.CASCADE
    )
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    words = models.CharField(_("matched words"), max_length=255)
    text = models.TextField(_("text"))
    created_at = models.DateTimeField(_("matched at"), default=timezone.now)
    acknowledged = models.BooleanField(_("acknowledged"), default=False)

    class Meta:
        ordering = ["acknowledged", "-created_at"]
        verbose_name = _("keyword alert")
        verbose_name_plural = _("keyword alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "post"],
                condition=models.Q(post__isnull=False),
                name="uniq_alert_per_post",
            ),
            models.UniqueConstraint(
                fields=["rule", "comment"],
                condition=models.Q(comment__isnull=False),
                name="uniq_alert_per_comment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule}: {self.text[:30]}"


class Campaign(models.Model):
    """A KOL campaign: brand posts pushed by KOL accounts over a period (local dates, inclusive)."""

    name = models.CharField(_("name"), max_length=100)
    account = models.ForeignKey(
        WeiboAccount, verbose_name=_("account"), on_delete=models.CASCADE, related_name="campaigns"
    )
    start = models.DateField(_("start"))
    end = models.DateField(_("end"))
    posts = models.ManyToManyField(
        WeiboPost, verbose_name=_("brand posts"), blank=True, related_name="campaigns"
    )
    kols = models.ManyToManyField(
        WeiboUser,
        verbose_name=_("KOLs"),
        blank=True,
        related_name="campaigns",
        through="CampaignKol",
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-start", "name"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self) -> str:
        return self.name


class CampaignKol(models.Model):
    """A KOL taking part in a campaign, with the fee paid to them (integer fen).

    The table is the one Django made for the former plain `Campaign.kols` (the KOL's column
    keeps its name `weibouser_id`), so the existing rows are kept.
    """

    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE)
    kol = models.ForeignKey(
        WeiboUser, verbose_name=_("KOL"), on_delete=models.CASCADE, db_column="weibouser_id"
    )
    fee_fen = models.PositiveIntegerField(_("fee (fen)"), default=0)

    class Meta:
        db_table = "channels_weibo_campaign_kols"
        unique_together = [("campaign", "kol")]
        verbose_name = _("campaign KOL")
        verbose_name_plural = _("campaign KOLs")

    def __str__(self) -> str:
        return f"{self.campaign} · {self.kol}"


class CampaignHandoff(models.Model):
    """The KOL campaign a Weibo → WeChat handoff (crm.Handoff, purpose `campaign`) was sent from,
    and the KOL whose post the person engaged with (commented on or reposted).

    crm may not import this app, so the link lives here. Attribution credits the handoff, and
    the lead it advances, to this campaign and KOL (dashboards.kpis.attribution). A person has
    one campaign handoff: sending from another campaign before it was used moves it there.
    """

    handoff = models.OneToOneField(
        Handoff,
        verbose_name=_("handoff"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="campaign_link",
    )
    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="handoffs"
    )
    kol = models.ForeignKey(
        WeiboUser, verbose_name=_("KOL"), on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        verbose_name = _("campaign handoff")
        verbose_name_plural = _("campaign handoffs")

    def __str__(self) -> str:
        return f"{self.campaign} · {self.handoff}"


class LeadCredit(models.Model):
    """The KOL campaign and KOL a Weibo lead is credited to, stored: the lead of a handoff sent
    from a campaign (CampaignHandoff) that campaign's and KOL's, otherwise the campaign page's
    lead rule (a repost of, or a comment on, a KOL's campaign post within the campaign's dates;
    on two matches the lowest campaign id, then KOL id). A lead credited to none has no row.

    Attribution reads it instead of working the rule out on each page view (the planner cannot
    estimate the rule's joins). Kept by the actions that change the rule's inputs through
    `channels_weibo.lead_credit` (lead creation, campaign edits, campaign handoffs);
    `manage.py rebuild_attribution` rebuilds it all.
    """

    lead = models.OneToOneField(
        "crm.Lead",
        verbose_name=_("lead"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="campaign_credit",
    )
    # The lead's customer, so the campaign page counts its customers from this table alone; a
    # merge re-points it with the lead, and `update_lead` credits a lead moved to another.
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="lead_credits"
    )
    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="+"
    )
    kol = models.ForeignKey(
        WeiboUser, verbose_name=_("KOL"), on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["campaign", "kol", "customer"], name="weibo_leadcredit_campaign")
        ]
        verbose_name = _("lead campaign credit")
        verbose_name_plural = _("lead campaign credits")

    def __str__(self) -> str:
        return f"{self.lead_id} · {self.campaign_id} · {self.kol_id}"


class ScheduledPost(models.Model):
    """A brand post to publish at `publish_at` through statuses/share; keeps the outcome."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        PUBLISHED = "published", _("Published")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey(
        WeiboAccount,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="scheduled_posts",
    )
    text = models.TextField(_("text"), max_length=2000)
    image_url = models.URLField(_("image URL"), blank=True)
    publish_at = models.DateTimeField(_("publish at"))
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.SCHEDULED
    )
    result_idstr = models.CharField(_("published post id"), max_length=20, blank=True)
    post = models.ForeignKey(
        WeiboPost,
        verbose_name=_("published post"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    error = models.CharField(_("error"), max_length=500, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-publish_at"]
        verbose_name = _("scheduled post")
        verbose_name_plural = _("scheduled posts")

    def __str__(self) -> str:
        return self.text[:40]
